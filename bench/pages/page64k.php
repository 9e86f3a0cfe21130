<?php
header("Content-Type: text/plain");
$page = '';
for ($i = 0; $i < 26; $i++) $page .= chr(97 + $i);
echo substr(str_repeat($page, 2521), 0, 65536);
