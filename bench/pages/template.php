<?php
$rows = array();
for ($i = 1; $i <= 200; $i++) {
    $rows[] = sprintf("<tr><td>%d</td><td>%s</td><td>%.2f</td></tr>\n", $i, "item " . $i, $i * 1.5);
}
echo "<html><body><table>\n", implode('', $rows), "</table></body></html>\n";
