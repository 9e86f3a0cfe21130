<?php header("Content-Type: text/plain"); echo strlen(file_get_contents('php://input'));
