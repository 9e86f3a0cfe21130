# The dispatcher's lead, left vacant by a worker that took the last
# request ready (dispatch.c, "Hand-offs"), is never left so while that
# request runs on: with two workers, just after a burst of requests (so
# that the other worker stands by), a request that computes and one that
# waits on a socket each hold one worker, and a second request meanwhile is answered at once, not after
# the first. And an idle daemon sleeps: once requests stop, its threads
# are not woken a thousand times a second to look at the lead, nor are
# they between the requests of a trickle.
# one build: the dispatcher, all in C: the Lua build changes none of it
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use LFTest qw(wait_for slurp);

my $silent = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 8, ReuseAddr => 1)
    or die "listen: $!";
my $port = $silent->sockport;

my $t = LFTest->new(conf => { workers => 2 }, scripts => {
    'hello.lua'   => "function main(env, req) req:puts('hello') end\n",
    'compute.lua' => "function main(env, req)\n"
                   . "  local f = io.open(env.MARK, 'w') f:close()\n"
                   . "  local t = os.clock() while os.clock() - t < 1.5 do end\n"
                   . "  req:puts('computed')\n"
                   . "end\n",
    'socket.lua'  => "function main(env, req)\n"
                   . "  local s = ngx.socket.tcp() s:settimeout(1500)\n"
                   . "  assert(s:connect('127.0.0.1', $port))\n"
                   . "  local f = io.open(env.MARK, 'w') f:close()\n"
                   . "  local line, err = s:receive()\n"
                   . "  req:puts('socket ', tostring(err))\n"
                   . "end\n",
});
$t->start;
my $www = $t->www;
my $dir = $t->dir;

# A burst of requests on one kept connection, the last just now.
sub burst {
    my $s = $t->connect or return 0;
    my $n = 0;
    for (1 .. 30) {
        LFTest::write_all($s, LFTest::encode_request({ SCRIPT_FILENAME => "$www/hello.lua", REQUEST_METHOD => 'GET' },
                                                     '', keep_conn => 1));
        $n++ if LFTest::read_response($s, timeout => 10)->{body} eq 'hello';
    }
    close $s;
    return $n;
}

# Start the long request WHAT; while it runs, time a hello on a new connection.
sub beside {
    my ($what, $expect) = @_;
    my $mark = "$dir/mark-$what";
    unlink $mark;
    is(burst(), 30, "$what: a burst of 30 requests was answered");
    my $s = $t->connect;
    LFTest::write_all($s, LFTest::encode_request({ SCRIPT_FILENAME => "$www/$what.lua", MARK => $mark,
                                                   REQUEST_METHOD => 'GET' }, ''));
    ok(wait_for(sub { -e $mark }, 10), "$what: the long request started");
    my $t0 = time;
    my $r = $t->get('hello.lua');
    my $took = time - $t0;
    is($r->{body}, 'hello', "$what: a second request was answered");
    cmp_ok($took, '<', 0.75, sprintf("$what: ... at once (%.3f s), not after the first", $took));
    is(LFTest::read_response($s, timeout => 15)->{body}, $expect, "$what: the long request ended as it should");
    close $s;
}

beside('compute', 'computed');
beside('socket', 'socket timeout');

# Idle: the threads' context switches over a second, once requests stopped.
sub switches {
    my ($pid) = @_;
    my $n = 0;
    for my $st (glob("/proc/$pid/task/*/status")) {
        my $text = slurp($st);
        $n += $1 while $text =~ /^(?:non)?voluntary_ctxt_switches:\s+(\d+)/mg;
    }
    return $n;
}
SKIP: {
    skip 'no /proc', 3 unless -d "/proc/$$/task";
    my $pid = LFTest::serving_pid($t);
    is(burst(), 30, 'idle: a burst of 30 requests was answered');
    sleep 0.5;      # past DISPATCH_BUSY_MS: the standby stops
    my $before = switches($pid);
    sleep 1;
    my $n = switches($pid) - $before;
    cmp_ok($n, '<', 60, "idle: the daemon's threads were woken $n times in a second");

    # a trickle of lone requests has no standby: a request costs a few
    # thread switches, not a hundred milliseconds of wake-ups
    my ($got, $before2) = (0, switches($pid));
    for (1 .. 10) {
        $got++ if $t->get('hello.lua')->{body} eq 'hello';
        sleep 0.2;
    }
    my $d = switches($pid) - $before2;
    cmp_ok($d / 10, '<', 15, "trickle: $got lone requests 0.2 s apart cost $d thread switches");
}

is($t->stop, 0, 'stops');
done_testing();
