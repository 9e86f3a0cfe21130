# Kept FastCGI connections (FCGI_KEEP_CONN): reused, never holding a worker
# while idle, closed after keepalive_timeout, bounded by keepalive_max,
# closed on TERM; and stalled new connections do not hold workers either,
# nor count against keepalive_max.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use Time::HiRes qw(time);
use LFTest qw(wait_for http_get closed_within);

my $t = LFTest->new(conf => { workers => 2, keepalive_timeout => 60, keepalive_max => 100 });
$t->script('id.lua', "n = 0\nfunction main(env, req) n = n + 1 req:puts(env.QUERY_STRING, ' ', n) end\n");
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

# keepalive_max, changed by HUP: the oldest idle connections go
$t->write_conf(keepalive_max => 3);
$t->signal('HUP');
ok($t->wait_log(qr/reloaded/), 'reload with keepalive_max = 3');
my @fresh = map { my $c = $t->connect; ask($c, "fresh$_"); $c } 1 .. 3;
ok(closed_within($idle[0], 5) && closed_within($s, 5),
   'past keepalive_max the oldest kept connections are closed');
is(scalar(grep { ask($_, 'still')->{body} =~ /^still / } @fresh), 3, 'the newest three stay open and answer');
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

# TERM with kept connections open
my @kept = map { my $c = $t->connect; ask($c, "term$_"); $c } 1 .. 3;
is($t->stop, 0, 'TERM with kept connections open exits 0');
is(scalar(grep { closed_within($_, 2) } @kept), 3, 'and closes them');
ok(!-e $t->listen_addr, 'and removes the socket');

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
