# The access log: one line per request in php-fpm's access.format tokens,
# every token checked against what was sent; request ids; escaping;
# durations from the BEGIN_REQUEST; reopening on USR1 and HUP; the status
# and ping pages.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use POSIX qw(strftime);
use Time::HiRes qw(sleep);
use LFTest qw(wait_for slurp);

my @tokens = qw(%R %u %t %m %r %Q %q %s %f %d %{mili}d %{micro}d %M %{kilo}M %{mega}M
                %C %{user}C %n %p %{REQUEST_ID}e %{HTTP_X_TEST}e %l %% %{%Y}t %T);
my $format = join('|', @tokens);

my $t = LFTest->new(
    conf => { workers => 2, access_format => $format, client_timeout => 2,
              status_path => '/status', ping_path => '/ping' },
    scripts => {
        'ok.lua'    => "function main(env, req) req:puts('ok ', req:gets() or '') end\n",
        'sleep.lua' => "function main(env, req) os.execute('sleep 0.3') req:puts('slept') end\n",
        'big.lua'   => "function main(env, req) local t = {} for i = 1, 200000 do t[i] = i end "
                     . "req:puts(#t) end\n",
        'fail.lua'  => "function main(env, req) error('boom') end\n",
    });
my $log = $t->dir . '/access.log';
$t->write_conf(access_log => $log);
$t->start;

# the fields of the lines in FILE (all of them), split on |
sub lines { my ($file) = @_; return map { [split /\|/, $_, -1] } split /\n/, slurp($file // $log) }
sub field { my ($line, $token) = @_; my ($i) = grep { $tokens[$_] eq $token } 0 .. $#tokens; $line->[$i] }
sub wait_lines { my ($n, $file) = @_; wait_for(sub { lines($file) >= $n }, 10); return lines($file) }

# one request with everything set
my $r = $t->get('ok.lua', STDIN => 'abc', REMOTE_ADDR => '10.1.2.3', REMOTE_USER => 'alice',
                REQUEST_URI => '/app/ok.lua?x=1&y=2', QUERY_STRING => 'x=1&y=2',
                HTTP_X_REQUEST_ID => 'req-42.a:b', HTTP_X_TEST => 'hello');
is($r->{body}, 'ok abc', 'a POST is served');
my @l = wait_lines(1);
is(scalar @l, 1, 'one line for one request');
my $f = $l[0];
is(scalar @$f, scalar @tokens, 'with one field per token');
is(field($f, '%R'), '10.1.2.3', '%R is REMOTE_ADDR');
is(field($f, '%u'), 'alice', '%u is REMOTE_USER');
my $year = strftime('%Y', localtime);
like(field($f, '%t'), qr{^\[\d\d/[A-Z][a-z]{2}/$year:\d\d:\d\d:\d\d [+-]\d{4}\]$}, '%t is php-fpm\'s time, bracketed');
is(field($f, '%{%Y}t'), $year, '%{...}t takes a strftime format');
like(field($f, '%T'), qr{^\[\d\d/[A-Z][a-z]{2}/$year:}, '%T is the time of the line');
is(field($f, '%m'), 'POST', '%m is the method');
is(field($f, '%r'), '/app/ok.lua', '%r is the URI without the query string');
is(field($f, '%Q'), '?', '%Q is ? when there is a query string');
is(field($f, '%q'), 'x=1&y=2', '%q is the query string');
is(field($f, '%s'), '200', '%s is the status');
is(field($f, '%f'), $t->www . '/ok.lua', '%f is the script');
is(field($f, '%l'), '3', '%l is the body length');
is(field($f, '%n'), 'luafcgid', '%n is the pool name');
like(field($f, '%p'), qr/^[12]$/, '%p is the worker');
is(field($f, '%{REQUEST_ID}e'), 'req-42.a:b', '%{REQUEST_ID}e is the id from X-Request-Id');
is(field($f, '%{HTTP_X_TEST}e'), 'hello', '%{NAME}e is any parameter');
is(field($f, '%%'), '%', '%% is a percent sign');
like(field($f, '%C'), qr/^\d+\.\d\d$/, '%C is a CPU percentage');
like(field($f, '%{user}C'), qr/^\d+\.\d\d$/, '%{user}C too');
like(field($f, '%d'), qr/^\d+\.\d{3}$/, '%d is seconds with 3 decimals');

# the others, and a missing value
$r = $t->get('sleep.lua');
is($r->{body}, 'slept', 'a request that takes 0.3 s');
$r = $t->get('big.lua');
is($r->{body}, '200000', 'a request that builds a big table');
$r = $t->get('fail.lua');
is($r->{status}, 500, 'a failing request');
$r = $t->get('nothere.lua');
is($r->{status}, 404, 'a missing script');
@l = wait_lines(5);
is(scalar @l, 5, 'one line per request, whatever its end');
my ($sl, $big, $fail, $nf) = @l[1 .. 4];
cmp_ok(field($sl, '%d'), '>=', 0.3, '%d covers the handler\'s time');
cmp_ok(abs(field($sl, '%{mili}d') - field($sl, '%d') * 1000), '<', 1, '%{mili}d is the same in ms');
cmp_ok(abs(field($sl, '%{micro}d') - field($sl, '%{mili}d') * 1000), '<', 1000, '%{micro}d in µs');
like(field($sl, '%{micro}d'), qr/^\d+$/, '%{micro}d is a whole number');
cmp_ok(field($big, '%M'), '>', 2_000_000, '%M is the Lua state\'s peak memory: a 200000-entry table');
is(field($big, '%{kilo}M'), int(field($big, '%M') / 1024), '%{kilo}M in KiB');
is(field($big, '%{mega}M'), int(field($big, '%M') / 1048576), '%{mega}M in MiB');
cmp_ok(field($sl, '%M'), '<', field($big, '%M'), 'and a small request\'s peak is smaller');
is(field($fail, '%s'), '500', 'a runtime error is logged as 500');
is(field($nf, '%s'), '404', 'a missing script as 404');
is(field($nf, '%u'), '-', '%u is - without a user');
is(field($nf, '%Q'), '', '%Q is empty without a query string');
is(field($nf, '%q'), '', 'and so is %q');
is(field($nf, '%r'), '-', '%r is - with neither REQUEST_URI nor SCRIPT_NAME');
is(field($nf, '%{HTTP_X_TEST}e'), '-', '%{NAME}e is - for a parameter not sent');
my @ids = map { field($_, '%{REQUEST_ID}e') } @l[1 .. 4];
is(scalar(grep { /^[0-9a-f]{32}$/ } @ids), 4, 'without X-Request-Id each request gets an id of 32 hex digits');
my %seen = map { $_ => 1 } @ids;
is(scalar keys %seen, 4, 'all distinct');
like($t->log, qr/request \Q$ids[2]\E: \S+fail\.lua: 500 .*boom/, 'the daemon\'s log names the same id for the failure');

# REQUEST_ID wins over X-Request-Id; an id that is not a plain token is replaced
$t->get('ok.lua', REQUEST_ID => 'nginx-id', HTTP_X_REQUEST_ID => 'header-id');
$t->get('ok.lua', HTTP_X_REQUEST_ID => "bad id\nforged");
@l = wait_lines(7);
is(field($l[5], '%{REQUEST_ID}e'), 'nginx-id', 'REQUEST_ID (nginx\'s $request_id) comes first');
like(field($l[6], '%{REQUEST_ID}e'), qr/^[0-9a-f]{32}$/, 'an id with a space or a newline is replaced by ours');

# escaping: request data cannot add a line or a field separator of its own
$t->get('ok.lua', REQUEST_URI => "/a\"b\\c\x01d\ne\x7f\xff", REMOTE_USER => "x\ty", QUERY_STRING => "q\r\n");
@l = wait_lines(8);
is(scalar @l, 8, 'control characters in a request still make one line');
is(field($l[7], '%r'), '/a\x22b\x5cc\x01d\x0ae\x7f\xff', '", \\, controls and high bytes are escaped as \\xNN');
is(field($l[7], '%u'), 'x\x09y', 'in every field taken from the request');
is(field($l[7], '%q'), 'q\x0d\x0a', 'the query string too');

# durations start at the BEGIN_REQUEST: a kept connection idle first does not count
{
    my $s = $t->connect;
    my %p = (SCRIPT_FILENAME => $t->www . '/ok.lua', REQUEST_METHOD => 'GET');
    LFTest::write_all($s, LFTest::encode_request(\%p, '', keep_conn => 1));
    is(LFTest::read_response($s)->{body}, 'ok ', 'a first request on a kept connection');
    sleep 1.5;
    LFTest::write_all($s, LFTest::encode_request(\%p, '', keep_conn => 1));
    is(LFTest::read_response($s)->{body}, 'ok ', 'a second one after 1.5 s idle');
    close $s;
    @l = wait_lines(10);
    cmp_ok(field($l[9], '%d'), '<', 1.5, 'its duration leaves out the idle time before it');
}

# USR1 after a rename: the next line goes to a new file of the same name
rename($log, "$log.1") or die "rename: $!";
$t->signal('USR1');
ok($t->wait_log(qr/log reopened/), 'USR1 is logged');
$t->get('ok.lua', HTTP_X_REQUEST_ID => 'after-usr1');
@l = wait_lines(1);
is(scalar @l, 1, 'after USR1 a new file holds the next line');
is(field($l[0], '%{REQUEST_ID}e'), 'after-usr1', 'the request after the signal');
is(scalar(lines("$log.1")), 10, 'the renamed file keeps the lines before it, and no more');

# HUP with php-fpm's default format
$t->write_conf(access_format => undef);
$t->signal('HUP');
ok($t->wait_log(qr/reloaded/), 'HUP with no access_format');
$t->get('ok.lua', REQUEST_URI => '/x/ok.lua?a=1', QUERY_STRING => 'a=1');
wait_for(sub { slurp($log) =~ tr/\n// >= 2 }, 10);
my ($last) = (split /\n/, slurp($log))[-1];
like($last, qr{^127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "GET /x/ok\.lua" 200$},
     'php-fpm\'s default format: %R - %u %t "%m %r" %s');

# the record layer's lines name the request too, once its params are read
# (over 8 kB of it, so that a worker takes it up before it is whole:
# dispatch_whole.c; whole-requests.t has the dispatcher's line)
{
    my $s = $t->connect;
    my $req = LFTest::encode_request({ SCRIPT_FILENAME => $t->www . '/ok.lua', REQUEST_METHOD => 'POST',
                                       CONTENT_LENGTH => 10, HTTP_X_REQUEST_ID => 'too-slow',
                                       HTTP_X_PAD => 'p' x 9000 }, '0123456789');
    LFTest::write_all($s, substr($req, 0, length($req) - 20));     # the body never ends
    ok($t->wait_log(qr/worker \d+ request too-slow: fd \d+: \S+ok\.lua: the client was too slow/),
       'a client too slow with its body: the line names the request id');
    close $s;
}

# a request never answered, its script never run, is not logged as a 200
{
    ok(wait_for(sub { slurp($log) =~ tr/\n// >= 3 }, 10), 'the request too slow with its body has its line');
    like((split /\n/, slurp($log))[-1], qr{"POST -" 499$}, 'as 499: no answer went out, nothing ran');
    my $s = $t->connect;
    my $req = LFTest::encode_request({ SCRIPT_FILENAME => $t->www . '/ok.lua', REQUEST_METHOD => 'PUT',
                                       CONTENT_LENGTH => 10 }, '0123456789');
    LFTest::write_all($s, substr($req, 0, length($req) - 20));
    close $s;                                                       # gone halfway through its body
    wait_for(sub { slurp($log) =~ tr/\n// >= 4 }, 10);
    like((split /\n/, slurp($log))[-1], qr{"PUT -" 499$}, 'a client gone halfway through its body: 499');
    $t->get('nothere.lua');
    wait_for(sub { slurp($log) =~ tr/\n// >= 5 }, 10);
    like((split /\n/, slurp($log))[-1], qr{"GET -" 404$}, 'an answer that went out keeps its status');
}

# the status and ping pages have their lines, as php-fpm logs its own
{
    is($t->get('x.lua', SCRIPT_NAME => '/status', REQUEST_URI => '/status')->{status}, 200, 'the status page');
    is($t->get('x.lua', SCRIPT_NAME => '/ping', REQUEST_URI => '/ping', REQUEST_METHOD => 'HEAD')->{status},
       200, 'the ping page');
    ok(wait_for(sub { slurp($log) =~ tr/\n// >= 7 }, 10), 'a line for each');
    my @last = (split /\n/, slurp($log))[-2, -1];
    like($last[0], qr{"GET /status" 200$}, 'the status page\'s line');
    like($last[1], qr{"HEAD /ping" 200$}, 'the ping\'s line');
}

# a format that cannot work is refused before start-up
$t->write_conf(access_format => '%R %Z');
my $out = `${\ LFTest::binary()} -t ${\ $t->conf_path} 2>&1`;
is($? >> 8, 1, 'an unknown token fails -t');
like($out, qr/access_format.*unknown token "%Z"/, 'naming the key and the token');

$t->stop;
done_testing;
