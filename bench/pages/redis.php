<?php
// A redis GET and INCR with a persistent connection (Debian's php-redis),
// the redis page of the PHP side; bench/run fills in redis' port.
$r = new Redis();
$r->pconnect('127.0.0.1', %%PORT%%);
$v = $r->get('bench:key');
$n = $r->incr('bench:hits');
echo ($v === 'value' && is_int($n)) ? "redis\n" : "wrong\n";
