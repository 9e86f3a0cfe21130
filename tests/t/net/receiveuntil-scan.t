# receiveuntil's search keeps the request's limits: the data it has read
# is searched in time linear in its length (not again from the start at
# every read, and not in pattern length times data length for a pattern
# like "aaa...ab" on a stream of "a"s), so a server's stream cannot hold
# the worker in C past the request's timeout: it is not written off as
# stuck in C, the serving process is not replaced.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use IO::Socket::INET;
use Time::HiRes qw(time);
use LFTest;

my $t = LFTest->new(conf => { workers => 2, timeout => 3, memory => 64 * 1024 * 1024 });
my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 8, ReuseAddr => 1)
    or die "listen: $!";
my $port = $l->sockport;
my $srv = fork // die "fork: $!";
if ($srv == 0) {
    my @held;
    for (1 .. 20) {
        my $c = $l->accept or last;
        syswrite($c, 'a' x 65536) for 1 .. 48;       # 3 MiB of "a", and no end
        push @held, $c;
    }
    POSIX::_exit(0);
}
LFTest::track($srv, 'a server of "a"s');
close $l;

$t->script('until.lua', <<"LUA");
local lf = require "luafcgid"
function main(env, req)
  local s = lf.socket.tcp()
  s:settimeout(10000)
  assert(s:connect("127.0.0.1", $port))
  local size = tonumber(env.QUERY_STRING)
  local it = s:receiveuntil(string.rep("a", 100000) .. "b")
  local d, e = it(size)
  while d and size do d, e = it(size) end
  req:puts(tostring(d and #d), " ", tostring(e))
end
LUA
$t->script('quick.lua', "function main(env, req) req:puts('quick') end\n");
$t->start;
my $pid = LFTest::serving_pid($t);

for my $q ('', '65536') {
    my $t0 = time;
    my $r = $t->get('until.lua', QUERY_STRING => $q);
    my $dt = time - $t0;
    like($r->{body}, qr/timeout: the request ran too long/, "size '$q': the request ends at its timeout")
        or diag $r->{body};
    ok($dt < 4.5, sprintf("size '$q': within the request's timeout of 3 s (%.2f s)", $dt));
}
unlike($t->log, qr/written off|stuck in a C function/, 'no worker was written off as stuck in C');
is(LFTest::serving_pid($t), $pid, 'the serving process was not replaced');
is($t->get('quick.lua')->{body}, 'quick', 'the daemon serves on');
$t->stop;
LFTest::stop_pid($srv, 'KILL', 5);
done_testing;
