# A name looked up through a DNS server that never answers: the lookup is
# bounded by the request's deadline (`timeout`) as every socket wait is,
# not only by the socket's own timeout (socket_timeout, 60 s by default).
# ngx.socket.tcp's connect, ngx.socket.udp's setpeername and LuaSocket's
# methods that take a name (connect, and udp's setpeername and tcp's
# bind) each end the request at its timeout: no worker is held past it,
# none is written off as stuck in C, the serving process is not replaced.
#
# The daemon runs in a mount namespace of its own where /etc/resolv.conf
# names a UDP "server" (this test's) that reads queries and never answers.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use IO::Socket::INET;
use Time::HiRes qw(time);
use LFTest qw(spew);

plan skip_all => 'needs root, unshare(1) and bind mounts for a private /etc/resolv.conf'
    unless $> == 0 && -e '/etc/resolv.conf'
        && system("unshare -m sh -c 'mount --bind /etc/resolv.conf /etc/resolv.conf' >/dev/null 2>&1") == 0;

my $t = LFTest->new(conf => { workers => 2, timeout => 2 });
my $dir = $t->dir;
my $addr = '127.83.' . (($$ >> 8) % 250 + 1) . '.' . ($$ % 250 + 1);
my $hole = IO::Socket::INET->new(LocalAddr => $addr, LocalPort => 53, Proto => 'udp')
    or plan skip_all => "cannot bind $addr:53/udp: $!";
my $hole_pid = fork // die "fork: $!";
if ($hole_pid == 0) {
    my $buf;
    for (1 .. 100000) { defined $hole->recv($buf, 4096) or last }    # read, never answer
    POSIX::_exit(0);
}
LFTest::track($hole_pid, 'silent DNS server');
close $hole;
spew("$dir/resolv.conf", "nameserver $addr\n");
my $real = LFTest::binary();
spew("$dir/in-ns.sh", "#!/bin/sh\n"
     . "exec unshare -m sh -c 'mount --bind $dir/resolv.conf /etc/resolv.conf && exec \"\$0\" \"\$@\"' '$real' \"\$@\"\n");
chmod 0755, "$dir/in-ns.sh";
local $ENV{LUAFCGID} = "$dir/in-ns.sh";

$t->script('dns.lua', <<'LUA');
local lf = require "luafcgid"
function main(env, req)
  local q = env.QUERY_STRING
  if q == "tcp" then
    local s = lf.socket.tcp()
    req:puts(tostring(select(2, s:connect("www.example.com", 80))))
  elseif q == "tcp-short" then
    local s = lf.socket.tcp()
    s:settimeout(300)
    req:puts(tostring(select(2, s:connect("www.example.com", 80))))
  elseif q == "udp" then
    local u = lf.socket.udp()
    req:puts(tostring(select(2, u:setpeername("www.example.com", 53))))
  elseif q == "luasocket" then
    local c = require("socket").tcp()
    req:puts(tostring(select(2, c:connect("www.example.com", 80))))
  elseif q == "luasocket-setpeername" then
    local u = require("socket").udp()
    req:puts(tostring(select(2, u:setpeername("www.example.com", 53))))
  elseif q == "luasocket-bind" then
    local c = require("socket").tcp()
    req:puts(tostring(select(2, c:bind("www.example.com", 0))))
  end
end
LUA
$t->script('quick.lua', "function main(env, req) req:puts('quick') end\n");
$t->start;
my $pid = LFTest::serving_pid($t);

my $t0 = time;
my $r = $t->get('dns.lua', QUERY_STRING => 'tcp-short');
like($r->{body}, qr/^www\.example\.com could not be resolved \(110: Operation timed out\)$/,
     'a connect timeout of 300 ms bounds the lookup, with nginx\'s resolver words');
ok(time - $t0 < 1.5, sprintf('in time (%.2f s)', time - $t0));

for my $q (qw(tcp udp luasocket luasocket-setpeername luasocket-bind)) {
    $t0 = time;
    $r = $t->get('dns.lua', QUERY_STRING => $q);
    my $dt = time - $t0;
    is($r->{status}, 500, "$q: the request ends with a 500");
    like($r->{body}, qr/timeout: the request ran too long/, "$q: at the request's timeout") or diag $r->{body};
    ok($dt < 3.5, sprintf("$q: within the request's timeout of 2 s (%.2f s)", $dt));
}
unlike($t->log, qr/written off|stuck in a C function/, 'no worker was written off as stuck in C');
is(LFTest::serving_pid($t), $pid, 'the serving process was not replaced');
is($t->get('quick.lua')->{body}, 'quick', 'the daemon serves on');
$t->stop;
LFTest::stop_pid($hole_pid, 'KILL', 5);
done_testing;
