# Kept FastCGI connections (FCGI_KEEP_CONN): reused, never holding a worker
# while idle, closed after keepalive_timeout, bounded by keepalive_max
# (closed after an answer, never while idle), served and closed on TERM;
# and stalled new connections do not hold workers either, nor count
# against keepalive_max.
# one build: the FastCGI records, connections and dispatch, all in C: the Lua build changes none of it
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use Time::HiRes qw(time);
use LFTest qw(wait_for http_get closed_within);

my $t = LFTest->new(conf => { workers => 2, keepalive_timeout => 60, keepalive_max => 100 });
$t->script('id.lua', "n = 0\nfunction main(env, req) n = n + 1 req:puts(env.QUERY_STRING, ' ', n) end\n");
$t->script('slow.lua', "local socket = require 'socket'\n"
                     . "function main(env, req) req:log('slow request running') socket.sleep(3) req:puts('slow') end\n");
$t->start;
my $script = $t->www . '/id.lua';

sub ask {
    my ($s, $q, %o) = @_;
    LFTest::write_all($s, LFTest::encode_request({ SCRIPT_FILENAME => $script, REQUEST_METHOD => 'GET',
                                                  QUERY_STRING => $q }, '', keep_conn => 1, %o))
        or return { status => 0, body => '' };
    return LFTest::read_response($s, timeout => $o{timeout} // 10);
}

# one connection, several requests
my $s = $t->connect;
my @bodies = map { ask($s, "k$_")->{body} } 1 .. 3;
is(scalar(grep { /^k\d \d+$/ } @bodies), 3, 'three requests answered on one kept connection');
ok(ask($s, 'k4')->{ended}, 'each ends with FCGI_END_REQUEST and the connection stays open');

# more idle kept connections than workers do not hold the workers
my @idle = map { my $c = $t->connect; ask($c, "idle$_"); $c } 1 .. 4;
my $t0 = time;
my $r = $t->get('id.lua', QUERY_STRING => 'fresh');
my $took = time - $t0;
like($r->{body}, qr/^fresh /, 'with 5 idle kept connections and 2 workers, a new connection is served');
ok($took < 1, sprintf('at once (%.3f s), not after an idle connection times out', $took));
$r = ask($idle[2], 'again');
like($r->{body}, qr/^again /, 'an idle kept connection is served when its next request comes');

# a client that connects and sends nothing does not hold a worker either
my @stalled = map { $t->connect } 1 .. 4;
$t0 = time;
$r = $t->get('id.lua', QUERY_STRING => 'past-stalled');
like($r->{body}, qr/^past-stalled /, 'four silent new connections and 2 workers: a real request is served');
ok(time - $t0 < 1, 'at once');

# keepalive_max, changed by HUP: it closes no idle connection (the web
# server may be writing a request on one, and nginx does not retry a
# POST); past it, a connection is closed right after its answer instead
# of being kept, so the web server sees the close with the answer
$t->write_conf(keepalive_max => 3);
$t->signal('HUP');
ok($t->wait_log(qr/reloaded/), 'reload with keepalive_max = 3');
is(scalar(grep { !closed_within($_, 0.3) } $s, @idle), 5, 'five idle kept connections over keepalive_max 3: none is closed');
like(ask($idle[0], 'over')->{body}, qr/^over /, 'a request on one of them is answered');
ok(closed_within($idle[0], 2), 'and then, past keepalive_max, its connection is closed');
like(ask($idle[1], 'over2')->{body}, qr/^over2 /, 'the next one too');
ok(closed_within($idle[1], 2), 'and closed: three are left idle');
like(ask($idle[2], 'under')->{body}, qr/^under /, 'a request with fewer than keepalive_max others idle');
ok(!closed_within($idle[2], 0.5), 'keeps its connection');
like(ask($idle[2], 'still')->{body}, qr/^still /, 'which answers the next one');
like(ask($stalled[0], 'first')->{body}, qr/^first /,
     'a new connection that has sent nothing yet is not a kept one: it stays, and is answered');

# keepalive_timeout, changed by HUP
$t->write_conf(keepalive_max => 100, keepalive_timeout => 2);
$t->signal('HUP');
ok($t->wait_log(qr/reloaded(?s:.*)reloaded/), 'reload with keepalive_timeout = 2');
my $k = $t->connect;
ask($k, 'timeout');
$t0 = time;
ok(closed_within($k, 6), 'an idle kept connection is closed after keepalive_timeout');
ok(time - $t0 >= 1.5, sprintf('and not before (%.1f s)', time - $t0));

# USR2 to the serving process alone: it stops, passing its kept
# connections on to the one the supervisor starts in its place; a request
# sent on one meanwhile waits in it and is answered there
{
    my $reloads = () = $t->log =~ /reloaded/g;
    $t->write_conf(keepalive_timeout => 60);    # not 2 s: a new process may take longer to start
    $t->signal('HUP');
    ok(wait_for(sub { (() = $t->log =~ /reloaded/g) > $reloads }, 10), 'reload with keepalive_timeout = 60');
    my @passed = map { my $c = $t->connect; ask($c, "pass$_"); $c } 1 .. 3;
    my $old = LFTest::serving_pid($t);
    kill 'USR2', $old;
    ok($t->wait_log(qr/stopping: \d+ idle connections? passed on/), 'USR2 to the serving process alone: it passes them on');
    like(ask($passed[0], 'meanwhile', timeout => 20)->{body}, qr/^meanwhile /, 'a request sent meanwhile is answered');
    my $new = LFTest::serving_pid($t);
    ok(wait_for(sub { ($new = LFTest::serving_pid($t, 1)) && $new != $old }, 10), 'by the serving process that took over');
    is(scalar(grep { ask($_, 'after')->{body} =~ /^after / } @passed), 3, 'and every passed connection serves on');
    like($t->log, qr/hand-over: took \d+ connections? passed on/, 'the new one says it took them');
}

# without FCGI_KEEP_CONN the connection is closed after the answer
my $plain = $t->connect;
LFTest::write_all($plain, LFTest::encode_request({ SCRIPT_FILENAME => $script, REQUEST_METHOD => 'GET',
                                                  QUERY_STRING => 'plain' }, ''));
LFTest::read_response($plain);
ok(closed_within($plain, 2), 'without FCGI_KEEP_CONN the connection is closed after the answer');

# garbage on a kept connection costs that connection only
my $g = $t->connect;
ask($g, 'before-garbage');
syswrite($g, "this is not FastCGI at all, not even close.\n" x 4);
ok(closed_within($g, 5), 'garbage on a kept connection closes it');
like($t->get('id.lua', QUERY_STRING => 'after-garbage')->{body}, qr/^after-garbage /, 'and the daemon serves on');

# TERM with kept connections open, one request in flight: what comes on a
# kept connection while the stop finishes it is served, and that
# connection closed right after its answer; the idle ones are closed
# once nothing runs (and a second has passed)
my @kept = map { my $c = $t->connect; ask($c, "term$_"); $c } 1 .. 3;
my $busy = $t->connect;
LFTest::write_all($busy, LFTest::encode_request({ SCRIPT_FILENAME => $t->www . '/slow.lua',
                                                 REQUEST_METHOD => 'GET' }, '', keep_conn => 1));
ok(wait_for(sub { $t->log =~ /slow request running/ }, 10), 'a slow request runs');
my $pid = $t->pid;
kill 'TERM', $pid;
ok($t->wait_log(qr/signal 15: stopping/), 'TERM');
like(ask($kept[0], 'during-stop')->{body}, qr/^during-stop /, 'a request on a kept connection during the stop is answered');
ok(closed_within($kept[0], 2), 'and its connection closed right after');
like(LFTest::read_response($busy)->{body}, qr/^slow$/, 'the request in flight is finished');
ok(closed_within($busy, 2), 'and its kept connection closed');
is(scalar(grep { closed_within($_, 3) } @kept[1, 2]), 2, 'the idle kept connections are closed');
is($t->stop, 0, 'TERM with kept connections open exits 0');
ok(!-e $t->listen_addr, 'and removes the socket');

# Connections that sent only management records (FCGI_GET_VALUES) are not
# kept ones either: however many, they leave keepalive_max to the
# connections requests were served on.
{
    my $m = LFTest->new(conf => { workers => 2, keepalive_max => 2 }, scripts => { 'id.lua' => "function main(env, req) req:puts(env.QUERY_STRING) end\n" });
    $m->start;
    my @mgmt = map {
        my $c = $m->connect;
        LFTest::write_all($c, LFTest::record(9, 0, "\x0e\x00FCGI_MAX_CONNS"));
        my $h = '';
        sysread($c, $h, 8) == 8 or die "no answer to FCGI_GET_VALUES\n";
        my (undef, $type, undef, $clen, $plen) = unpack('CCnnC', $h);
        sysread($c, my $rest, $clen + $plen) if $clen + $plen;
        is($type, 10, "FCGI_GET_VALUES answered on connection $_");
        $c
    } 1 .. 3;
    my $k2 = $m->connect;
    my $ask = sub {
        LFTest::write_all($k2, LFTest::encode_request({ SCRIPT_FILENAME => $m->www . '/id.lua', REQUEST_METHOD => 'GET',
                                                        QUERY_STRING => $_[0] }, '', keep_conn => 1));
        return LFTest::read_response($k2, timeout => 10)->{body};
    };
    is($ask->('one'), 'one', 'a kept request beside three management-only connections, keepalive_max 2');
    ok(!closed_within($k2, 0.5), 'its connection is kept: the three do not count against keepalive_max');
    is($ask->('two'), 'two', 'and serves the next request');
    close $_ for @mgmt, $k2;
    is($m->stop, 0, 'stop');
}

# through nginx: keepalive 16, fastcgi_keep_conn on, 4 workers, 64 clients;
# on the plain build and on the ThreadSanitizer build
sub nginx_load {
    my ($label, %env) = @_;
    local @ENV{keys %env} = values %env;
    my $n = LFTest->new(conf => { workers => 4 });
    my $reports = $n->dir . '/tsan';
    local $ENV{TSAN_OPTIONS} = "halt_on_error=0 log_path=$reports suppressions=" . LFTest::top() . '/tests/tsan.supp';
    $n->script('id.lua', "function main(env, req) req:puts(env.QUERY_STRING) end\n");
    $n->start;
    $n->start_nginx(keepalive => 16);
    my ($clients, $seconds) = (64, 4);
    my @results = LFTest::run_clients($clients, $seconds + 60, sub {
        my ($c) = @_;
        require HTTP::Tiny;
        my $http = HTTP::Tiny->new(timeout => 10, keep_alive => 1);
        my ($ok, $bad, $worst, $i) = (0, 0, 0, 0);
        my $end = time + $seconds;
        while (time < $end && $i < 2000) {
            $i++;
            my $q = "c${c}r$i";
            my $t1 = time;
            my $res = $http->get($n->nginx_url("/id.lua?$q"));
            my $dt = time - $t1;
            $worst = $dt if $dt > $worst;
            if ($res->{status} == 200 && $res->{content} eq $q) { $ok++ } else { $bad++ }
        }
        return "$ok $bad $worst";
    });
    my ($ok, $bad, $worst, $reported) = (0, 0, 0, 0);
    for my $line (grep { defined } @results) {
        my ($o, $b, $w) = split ' ', $line;
        $reported++;
        $ok += $o;
        $bad += $b;
        $worst = $w if $w > $worst;
    }
    is($reported, $clients, "$label: $clients clients through nginx with keepalive 16 and fastcgi_keep_conn on all finished");
    is($bad, 0, "$label: no request failed or timed out ($ok answered)");
    ok($ok > $clients, "$label: and they got work done");
    ok($worst < 2, sprintf("$label: no request starved behind an idle kept connection (slowest %.3f s)", $worst));
    unlike(LFTest::slurp($n->dir . "/nginx/error.log"), qr/upstream timed out|\[error\]/, "$label: nginx logged no upstream errors");
    $n->stop_nginx;
    is($n->stop, 0, "$label: stop");
    my $text = join('', map { LFTest::slurp($_) } glob("$reports.*"));
    is(scalar(() = $text =~ /WARNING: ThreadSanitizer/g), 0, "$label: no ThreadSanitizer report")
        or diag(substr($text, 0, 6000));
}

SKIP: {
    skip 'nginx is not installed', 7 unless -x LFTest::nginx_binary();
    nginx_load('plain build');
}
SKIP: {
    skip 'no ThreadSanitizer build (LUAFCGID_TSAN)', 7
        unless -x LFTest::nginx_binary() && $ENV{LUAFCGID_TSAN} && -x $ENV{LUAFCGID_TSAN};
    nginx_load('TSan build', LUAFCGID => $ENV{LUAFCGID_TSAN});
}

done_testing;
