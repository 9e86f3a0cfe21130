# ngx.socket.udp(): setpeername (without a port too, as ngx_lua's: port
# 0), send, receive (a size, the timeout), close, against a local UDP
# echo server; a peer that never answers ends the receive at its timeout.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use IO::Socket::INET;
use LFTest;

my $echo = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'udp') or die "udp: $!";
my $port = $echo->sockport;
my $pid = fork // die "fork: $!";
if ($pid == 0) {
    while (1) {
        my $from = $echo->recv(my $buf, 65536) // next;
        next if $buf eq 'silence';
        $echo->send("echo:$buf", 0, $from);
    }
}
LFTest::track($pid, 'udp echo');
close $echo;

my $t = LFTest->new(conf => { workers => 2, timeout => 5 });
$t->script('udp.lua', <<"LUA");
local lf = require "luafcgid"
function main(env, req)
  local u = lf.socket.udp()
  local out = {}
  local function p(...) local t = {} for i = 1, select("#", ...) do t[i] = tostring((select(i, ...))) end out[#out + 1] = table.concat(t, " ") end
  p(u:send("x"))
  p(u:setpeername("127.0.0.1"))
  p(u:setpeername("127.0.0.1", $port))
  p(u:send("hello"))
  p(u:receive())
  p(u:send({ "a", "b", 3 }))
  p(u:receive(6))
  u:settimeout(200)
  p(u:send("silence"))
  p(u:receive())
  p(u:close())
  p(u:close())
  req:puts(table.concat(out, "\\n"))
end
LUA
$t->start;
is($t->get('udp.lua')->{body}, join("\n", 'nil closed', '1', '1', '1', 'echo:hello',
                                     '1', 'echo:a', '1', 'nil timeout', '1', 'nil closed'),
   'setpeername, send, receive with a size, a timeout, close');
$t->stop;
LFTest::stop_pid($pid, 'KILL', 5);
done_testing;
