# Pipelined requests on a kept connection: a client that sends its next
# request before it reads the answer (nginx never does) gets every answer,
# in order, whether the next request came in the same write as the first
# one's end or split across writes; bytes after a request's end that are
# not a request close the connection after the answer, cleanly and logged;
# a request pipelined where it cannot be served (a connection not kept,
# behind the service thread's ping) is logged, not lost in silence; and it
# needs no place among keepalive_max, nor is it dropped in a stop: a
# serving process stopping on USR2 serves it before it hands the
# connection over, and TERM before it closes it.
# one build: the FastCGI records, connections and dispatch, all in C: the Lua build changes none of it
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use IO::Select;
use LFTest qw(wait_for closed_within);

my $t = LFTest->new(conf => { workers => 2, keepalive_timeout => 30, keepalive_max => 10,
                              client_timeout => 5, maxpost => 256 * 1024, ping_path => '/ping' });
$t->script('id.lua', "function main(env, req) req:puts('id ', env.QUERY_STRING) end\n");
$t->script('post.lua', "function main(env, req) local b = req:gets() or ''\n"
                     . "  req:puts('post ', env.QUERY_STRING, ' ', #b, ' ', b:sub(-3)) end\n");
$t->script('finish.lua', "function main(env, req) req:puts('finished ', env.QUERY_STRING) req:finish()\n"
                       . "  local f = io.open('" . $t->dir . "/after-finish', 'w') f:write('x') f:close() end\n");
my $dir = $t->dir;
$t->script('wait.lua', "function main(env, req)\n"
                     . "  local f = io.open('$dir/waiting', 'w') f:close()\n"
                     . "  for i = 1, 200 do local g = io.open('$dir/go') if g then g:close() break end\n"
                     . "    os.execute('sleep 0.05') end\n"
                     . "  req:puts('waited ', env.QUERY_STRING) end\n");
$t->start;
my $www = $t->www;

sub request {
    my ($q, %o) = @_;
    my $body = delete $o{body};
    my %p = (SCRIPT_FILENAME => "$www/" . ($o{script} // 'id.lua'), QUERY_STRING => $q,
             REQUEST_METHOD => defined $body ? 'POST' : 'GET',
             (defined $body ? (CONTENT_LENGTH => length $body) : ()));
    return LFTest::encode_request(\%p, $body // '', keep_conn => $o{keep} // 1);
}

sub answer { LFTest::read_response($_[0], timeout => 10) }

sub unserved_said { () = $t->log =~ /are not served/g }

# two requests in one write: both answered, in order; the connection serves on
{
    my $s = $t->connect;
    LFTest::write_all($s, request('one') . request('two'));
    my $a = answer($s);
    is($a->{body}, 'id one', 'two requests in one write: the first is answered');
    ok($a->{ended}, 'with its END_REQUEST');
    my $b = answer($s);
    is($b->{body}, 'id two', 'and the second, after it');
    ok($b->{ended}, 'with its own END_REQUEST');
    LFTest::write_all($s, request('three'));
    is(answer($s)->{body}, 'id three', 'the kept connection serves on');
}

# three in one write, the last with a body: a chain of reads past the end
{
    my $s = $t->connect;
    my $body = join('', map { chr(65 + $_ % 26) } 0 .. 2999) . 'END';
    LFTest::write_all($s, request('a') . request('b') . request('c', script => 'post.lua', body => $body));
    is(join(' | ', map { answer($s)->{body} } 1 .. 3), 'id a | id b | post c 3003 END',
       'three requests in one write, the last with a body: each answered, in order');
}

# the second one split across two writes: part with the first, the rest after its answer
for my $cut (3, 8, 30) {
    my $s = $t->connect;
    my $second = request('split', script => 'post.lua', body => 'x' x 100 . 'abc');
    LFTest::write_all($s, request('before') . substr($second, 0, $cut));
    is(answer($s)->{body}, 'id before', "a request cut after $cut bytes behind the first: the first is answered");
    LFTest::write_all($s, substr($second, $cut));
    is(answer($s)->{body}, 'post split 103 abc', "and the second once its rest comes");
}

# a second request bigger than one read (its body 40 kB) right behind the first
{
    my $s = $t->connect;
    LFTest::write_all($s, request('small') . request('big', script => 'post.lua', body => 'y' x 40000 . 'zzz'));
    is(answer($s)->{body}, 'id small', 'a big request behind the first: the first is answered');
    is(answer($s)->{body}, 'post big 40003 zzz', 'and the big one, whole');
}

# FCGI_GET_VALUES between the two, in the same write: answered too
{
    my $s = $t->connect;
    my $ask = LFTest::nv_len('FCGI_MPXS_CONNS') . LFTest::nv_len('') . 'FCGI_MPXS_CONNS';
    LFTest::write_all($s, request('m1') . LFTest::record(9, 0, $ask) . request('m2'));
    is(answer($s)->{body}, 'id m1', 'a management record then a request behind the first: the first is answered');
    is(answer($s)->{body}, 'id m2', 'and the request (read_response passes the GET_VALUES_RESULT over)');
}

# req:finish() in the first: the second is served once its handler returns
{
    my $s = $t->connect;
    LFTest::write_all($s, request('f', script => 'finish.lua') . request('after-finish'));
    is(answer($s)->{body}, 'finished f', 'req:finish() in the first of two: the first is answered');
    is(answer($s)->{body}, 'id after-finish', 'and the second');
    ok(-e $t->dir . '/after-finish', 'after the first handler ran on');
}

# hostile: what follows the request is not one
{
    my $said = () = $t->log =~ /out of sequence/g;
    my $s = $t->connect;
    LFTest::write_all($s, request('hostile') . "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    my $a = answer($s);
    is($a->{body}, 'id hostile', 'garbage after a request: the request is answered');
    ok($a->{ended}, 'whole');
    ok(closed_within($s, 5), 'then the connection is closed');
    ok(wait_for(sub { (() = $t->log =~ /out of sequence/g) > $said }, 5), 'and that is logged');

    $s = $t->connect;
    LFTest::write_all($s, request('cut') . "\x01\x01\x00");
    is(answer($s)->{body}, 'id cut', 'three bytes of a header after a request: the request is answered');
    close $s;       # the client goes: the worker sees the end, not a hang
}

# a request pipelined on a connection not kept: logged, not lost in silence
{
    my $said = unserved_said();
    my $s = $t->connect;
    LFTest::write_all($s, request('unkept', keep => 0) . request('lost', keep => 0));
    is(answer($s)->{body}, 'id unkept', 'two requests on a connection not kept: the first is answered');
    ok(closed_within($s, 5), 'the connection is closed');
    ok(wait_for(sub { unserved_said() > $said }, 5), 'and the second, not served, is logged');
}

# every worker busy: the service thread answers a ping, and runs no
# script, so a request pipelined behind it is logged and not served
{
    my @held = $t->hold_workers;
    is(scalar @held, 2, 'every worker is held');
    my $said = unserved_said();
    my $s = $t->connect;
    my $ping = LFTest::encode_request({ SCRIPT_NAME => '/ping', SCRIPT_FILENAME => '/ping',
                                        REQUEST_METHOD => 'GET' }, '', keep_conn => 1);
    LFTest::write_all($s, $ping . request('behind-ping'));
    is(answer($s)->{body}, 'pong', 'a ping with a request behind it, every worker busy: the ping is answered');
    ok(closed_within($s, 5), 'the connection is closed');
    ok(wait_for(sub { unserved_said() > $said }, 5), 'and the request behind it, not served, is logged');
    is($t->release_workers(@held), 2, 'the held requests end');
}

is($t->get('id.lua', QUERY_STRING => 'still')->{body}, 'id still', 'the daemon serves on');

# USR2 to the serving process while the first of two runs: it stops, but
# the request pipelined behind (its bytes read, so not to be passed on as
# a bare connection) is served before the connection is handed over
{
    my $s = $t->connect;
    LFTest::write_all($s, request('w', script => 'wait.lua') . request('behind-wait'));
    ok(wait_for(sub { -e "$dir/waiting" }, 10), 'the first of two runs');
    my $old = LFTest::serving_pid($t);
    kill 'USR2', $old;
    ok($t->wait_log(qr/stopping/), 'USR2 to the serving process alone: it stops');
    LFTest::spew("$dir/go", '');
    is(answer($s)->{body}, 'waited w', 'the first request is answered');
    is(answer($s)->{body}, 'id behind-wait', 'and the one pipelined behind it, by the process that stops');
    my $new;
    ok(wait_for(sub { ($new = LFTest::serving_pid($t, 1)) && $new != $old }, 10), 'a new serving process took over');
    LFTest::write_all($s, request('passed'));
    is(answer($s)->{body}, 'id passed', 'and the connection, passed on, serves on');
}
# TERM while the first of two runs: the one pipelined behind it is a
# request that arrived, and is answered before the connection closes
{
    unlink "$dir/waiting", "$dir/go";
    my $s = $t->connect;
    LFTest::write_all($s, request('t', script => 'wait.lua') . request('behind-term'));
    ok(wait_for(sub { -e "$dir/waiting" }, 10), 'the first of two runs');
    my $stops = () = $t->log =~ /signal 15: stopping/g;
    $t->signal('TERM');
    ok(wait_for(sub { (() = $t->log =~ /signal 15: stopping/g) > $stops }, 10), 'TERM');
    LFTest::spew("$dir/go", '');
    is(answer($s)->{body}, 'waited t', 'the first request is answered');
    is(answer($s)->{body}, 'id behind-term', 'and the one pipelined behind it');
    ok(closed_within($s, 5), 'then the connection is closed');
}
is($t->stop, 0, 'stop');

# keepalive_max taken by an idle kept connection: a request pipelined on
# another one needs no place to be served; that connection is closed after
{
    my $k = LFTest->new(conf => { workers => 2, keepalive_timeout => 30, keepalive_max => 1 });
    $k->script('id.lua', "function main(env, req) req:puts('id ', env.QUERY_STRING) end\n");
    $k->start;
    $www = $k->www;
    my $idle = $k->connect;
    LFTest::write_all($idle, request('idle'));
    is(answer($idle)->{body}, 'id idle', 'an idle kept connection takes the one place of keepalive_max');
    my $s = $k->connect;
    LFTest::write_all($s, request('full1') . request('full2'));
    is(answer($s)->{body}, 'id full1', 'keepalive_max taken, two requests in one write: the first is answered');
    is(answer($s)->{body}, 'id full2', 'and the second');
    ok(closed_within($s, 5), 'then the connection, past keepalive_max, is closed');
    ok(!closed_within($idle, 0.3), 'the idle one stays');
    is($k->stop, 0, 'stop');
}
done_testing;
