# Slow and oversized clients: one client_timeout per request for its
# params, body and answer together (a byte every 0.5 s does not renew it,
# and it holds with timeout = 0, and TERM during a trickle ends in bounded
# time); maxparams bounds a request's parameters before they are
# allocated.
# one build: the FastCGI records, connections and dispatch, all in C: the Lua build changes none of it
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use IO::Select;
use Time::HiRes qw(time);
use LFTest qw(wait_for closed_within slurp spew drained);

my $t = LFTest->new(conf => { workers => 3, client_timeout => 2, timeout => 0 });
$t->script('id.lua', "function main(env, req) req:puts('id ', env.QUERY_STRING) end\n");
$t->script('post.lua', "function main(env, req) req:puts('post ', #(req:gets() or '')) end\n");
$t->start;
my $www = $t->www;

my $params = { SCRIPT_FILENAME => "$www/post.lua", REQUEST_METHOD => 'POST', CONTENT_LENGTH => 200,
               QUERY_STRING => 'slow' . ('q' x 100) };
my $request = LFTest::encode_request($params, 'b' x 200);
my $head = length(LFTest::encode_request($params, '')) - 8;    # all but the empty STDIN record

# Send PREFIX bytes of REQUEST at once, then one byte every 0.5 s; the
# seconds until the daemon closed the connection, or -1 (not within 15 s).
# Once a worker has read the first byte, touch MARK (if given).
sub trickle {
    my ($prefix, $mark) = @_;
    my $s = $t->connect or return -2;
    my $sel = IO::Select->new($s);
    syswrite($s, substr($request, 0, $prefix)) if $prefix;
    my $t0 = time;
    for (my $i = $prefix; $i < length $request && time - $t0 < 15; $i++) {
        my $w = syswrite($s, substr($request, $i, 1));
        return sprintf('%.2f', time - $t0) unless $w;
        spew($mark, '') if $mark && $i == $prefix && wait_for(sub { drained($s) }, 5);
        if ($sel->can_read(0.5)) {
            my $n = sysread($s, my $buf, 4096);
            return sprintf('%.2f', time - $t0) unless $n;
        }
    }
    return -1;
}

# two tricklers (params, body) at once, and a normal client meanwhile
my $dir = $t->dir;
my $clients = LFTest::start_clients(2, sub { trickle($_[0] == 1 ? 0 : $head, "$dir/trickling.$_[0]") });
ok(wait_for(sub { -e "$dir/trickling.1" && -e "$dir/trickling.2" }, 5), 'two workers read a trickle each');
my $t0 = time;
my $r = $t->get('id.lua', QUERY_STRING => 'prompt');
my $took = time - $t0;
is($r->{body}, 'id prompt', 'a normal client is served while two clients trickle');
ok($took < 1, sprintf('promptly (%.2f s)', $took));
my ($params_cut, $body_cut) = LFTest::wait_clients($clients, 30);
diag("params trickle cut after $params_cut s, body trickle after $body_cut s");
ok($params_cut > 1 && $params_cut < 6, "a client trickling its params is cut off at about client_timeout = 2 ($params_cut s)");
ok($body_cut > 1 && $body_cut < 6, "a client trickling its body is cut off at about client_timeout = 2 ($body_cut s)");
like($t->log, qr/fd \d+: -: the client was too slow \(client_timeout 2\); the connection is closed/,
     'the params trickle is logged, with its fd');
like($t->log, qr/\Q$www\E\/post\.lua: the client was too slow \(client_timeout 2\)/,
     'the body trickle is logged, with its script');

# a stalled client that sends nothing after its params costs at most client_timeout
{
    my $s = $t->connect;
    syswrite($s, substr($request, 0, $head));
    $t0 = time;
    ok(closed_within($s, 8), 'a client that stalls in its body is closed');
    my $dt = time - $t0;
    ok($dt > 1.5, sprintf('after client_timeout (%.2f s), with timeout = 0', $dt));
}

# the budget is the whole request's: a normal one is untouched by it
is($t->fcgi($params, 'b' x 200)->{body}, 'post 200', 'a whole request is served');

# ---- maxparams ---------------------------------------------------------

sub rss_kb { (slurp("/proc/$_[0]/status") =~ /^VmRSS:\s+(\d+)/m)[0] // 0 }

# One parameter declaring 150 MB: header and the first 20 MB of its value.
{
    my $pid = $t->pid;
    my $before = rss_kb($pid);
    my $s = $t->connect;
    my $declared = 150 * 1024 * 1024;
    my $nv = pack('C', 4) . pack('N', $declared | 0x80000000) . 'HUGE';
    my $chunk = 'x' x 65000;
    my $sent = 0;
    my $sel = IO::Select->new($s);
    my $ok = LFTest::write_all($s, LFTest::record(1, 1, pack('nCx5', 1, 0)) . LFTest::record(4, 1, $nv . $chunk));
    $sent += 65000 if $ok;
    while ($ok && $sent < 20 * 1024 * 1024) {
        last unless $sel->can_write(5);
        $ok = LFTest::write_all($s, LFTest::record(4, 1, $chunk));
        $sent += 65000 if $ok;
    }
    ok(closed_within($s, 5), sprintf('a parameter declaring 150 MB: the connection is closed (%d KB sent)', $sent / 1024));
    my $grew = rss_kb($pid) - $before;
    ok($grew < 10 * 1024, "and the daemon's RSS did not grow with it ($grew KB)");
    ok($t->wait_log(qr/a parameter declares too big a length \(maxparams 1048576\); the connection is closed/),
       'it is logged');
}

# Many parameters over the bound in all: closed, logged.
{
    my %many = map { ("P$_" => 'v' x 1000) } 1 .. 1100;
    my $s = $t->connect;
    LFTest::write_all($s, LFTest::encode_request({ %many, SCRIPT_FILENAME => "$www/id.lua" }, ''));
    ok(closed_within($s, 5), 'parameters over maxparams in all: the connection is closed');
    my $r2 = LFTest::read_response($s, timeout => 1);
    ok(!$r2->{ended}, 'unanswered');
}

# Just under the bound: served.
{
    my $value = 'u' x (1024 * 1024 - 1000);
    my $r3 = $t->fcgi({ SCRIPT_FILENAME => "$www/id.lua", REQUEST_METHOD => 'GET', QUERY_STRING => 'under',
                        BIG => $value }, '');
    is($r3->{body}, 'id under', 'parameters just under maxparams (1 MiB) are served');
}
# Each parameter costs libfcgi far more than its bytes: a MiB of empty
# pairs is over maxparams, closed unanswered.
{
    my $script = LFTest::nv_len('SCRIPT_FILENAME') . LFTest::nv_len("$www/id.lua") . 'SCRIPT_FILENAME' . "$www/id.lua";
    my $pairs = "\0\0" x int((1024 * 1024 - length($script) - 64) / 2);
    my $said = () = $t->log =~ /the parameters declare too much in all/g;
    my $s = $t->connect;
    LFTest::write_all($s, LFTest::record(1, 1, pack('nCx5', 1, 0)) . LFTest::stream(4, 1, $script . $pairs)
                          . LFTest::record(5, 1, ''));
    my $r4 = LFTest::read_response($s, timeout => 10);
    ok(!$r4->{ended}, sprintf('%d empty parameters in under 1 MiB: closed unanswered', length($pairs) / 2));
    ok(wait_for(sub { (() = $t->log =~ /fd \d+: -: the parameters declare too much in all \(each costs its bytes and more\) \(maxparams 1048576\)/g) > $said }),
       'and logged as too much in all');
}
# the same with SCRIPT_FILENAME after the pairs: the request refused is
# not served with the parameters libfcgi got before the refusal
{
    my $script = LFTest::nv_len('SCRIPT_FILENAME') . LFTest::nv_len("$www/id.lua") . 'SCRIPT_FILENAME' . "$www/id.lua";
    my $pairs = "\0\0" x int((1024 * 1024 - length($script) - 64) / 2);
    my $said = () = $t->log =~ /the parameters declare too much in all/g;
    my $s = $t->connect;
    LFTest::write_all($s, LFTest::record(1, 1, pack('nCx5', 1, 0)) . LFTest::stream(4, 1, $pairs . $script)
                          . LFTest::record(5, 1, ''));
    my $r5 = LFTest::read_response($s, timeout => 10);
    ok(!$r5->{ended}, 'pairs over maxparams before SCRIPT_FILENAME: closed unanswered');
    ok(wait_for(sub { (() = $t->log =~ /the parameters declare too much in all/g) > $said }), 'and logged');
    unlike($t->log, qr/no SCRIPT_FILENAME/, 'and not served as a request without its script');
}
is($t->get('id.lua', QUERY_STRING => 'after')->{body}, 'id after', 'the daemon serves on');

# client_timeout is wall-clock: a client that sends without pause is cut
# off too, whatever it sends. Junk records are refused at once; a body
# streamed without end into a kept connection is closed at about
# client_timeout, even with no maxpost to stop it.
{
    my $u = LFTest->new(conf => { workers => 3, client_timeout => 2, maxpost => 1e12 });   # one each
    $u->start;
    my $uwww = $u->www;
    my $pump = sub {
        my ($head, $junk) = @_;
        my $s = $u->connect or return -2;
        LFTest::write_all($s, $head);
        my $t1 = time;
        while (time - $t1 < 15) {
            LFTest::write_all($s, $junk) or return sprintf('%.2f', time - $t1);
        }
        return -1;
    };
    my $stream = LFTest::record(1, 1, pack('nCx5', 1, 1))
        . LFTest::stream(4, 1, LFTest::nv_len('SCRIPT_FILENAME') . LFTest::nv_len("$uwww/missing.lua")
                               . 'SCRIPT_FILENAME' . "$uwww/missing.lua");
    my $c = LFTest::start_clients(3, sub {
        return $pump->('', LFTest::record(9, 0, '') x 1000) if $_[0] == 1;
        return $pump->('', LFTest::record(1, 1, pack('nCx5', 1, 1)) . LFTest::record(5, 7, 'x' x 65528)) if $_[0] == 2;
        return $pump->($stream, LFTest::record(5, 1, 'x' x 65528) x 4);
    });
    my ($mgmt, $other, $body) = LFTest::wait_clients($c, 40);
    diag("closed after: management records $mgmt s, another id's records $other s, a body without end $body s");
    ok($mgmt >= 0 && $mgmt < 1.5, "a stream of management records is closed at once ($mgmt s)");
    ok($other >= 0 && $other < 1.5, "a stream of another id's records is closed at once ($other s)");
    ok($body > 1 && $body < 4, "a body streamed without end is closed at about client_timeout = 2 ($body s)");
    # the rest of a body answered early (the 404) is drained, parked and
    # taken up again on the request's own clock (wire_rest.c)
    like($u->log, qr/fd \d+: (?:\S*missing\.lua|\(the rest of a body answered early\)): the client was too slow \(client_timeout 2\)/,
         'it is logged as the client too slow');
    is($u->get('missing.lua')->{status}, 404, 'the worker serves on');
    is($u->stop, 0, 'stop');
}

# TERM while a client trickles, with timeout = 0: the stop takes at most
# about client_timeout.
{
    my $tr = LFTest::start_clients(1, sub { trickle($head, "$dir/trickling.3") });
    ok(wait_for(sub { -e "$dir/trickling.3" }, 5), 'a worker reads the trickle');
    $t0 = time;
    my $status = $t->stop;
    my $dt = time - $t0;
    is($status, 0, 'TERM while a client trickles its body exits 0');
    ok($dt < 6, sprintf('within about client_timeout (%.2f s)', $dt));
    LFTest::wait_clients($tr, 20);
}

done_testing;
