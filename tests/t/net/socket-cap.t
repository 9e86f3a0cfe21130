# A state holds at most LF_STATE_SOCKETS (256) sockets open at once: a
# request that opens and keeps more gets "too many open files" for the
# rest, as socket() says when the process has none left, rather than
# taking every descriptor the process has; its sockets are closed when it
# ends, and the next request opens its own.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFTest;
use LFNet;

my $t = LFTest->new(conf => { workers => 1, timeout => 20 });
my $silent = LFNet::fault('silent');
$t->script('hog.lua', <<"LUA");
local lf = require "luafcgid"
function main(env, req)
  local held, err = {}, nil
  for i = 1, 300 do
    local s = lf.socket.tcp()
    local ok, e = s:connect("127.0.0.1", $silent->{port})
    if not ok then err = e break end
    held[#held + 1] = s
  end
  local n = #held
  held[1]:close()
  local again = lf.socket.tcp()
  local ok2 = again:connect("127.0.0.1", $silent->{port})
  req:puts(n, " ", tostring(err), " ", tostring(ok2))
end
LUA
$t->script('udphog.lua', <<"LUA");
local lf = require "luafcgid"
function main(env, req)
  local held, err = {}, nil
  for i = 1, 200 do
    local s = lf.socket.tcp()
    assert(s:connect("127.0.0.1", $silent->{port}))
    held[#held + 1] = s
  end
  for i = 1, 100 do
    local u = lf.socket.udp()
    local ok, e = u:setpeername("127.0.0.1", $silent->{port})
    if not ok then err = e break end
    held[#held + 1] = u
  end
  req:puts(#held, " ", tostring(err))
end
LUA
$t->start;
my $before = scalar(() = glob('/proc/' . LFTest::serving_pid($t) . '/fd/*'));
is($t->get('hog.lua')->{body}, '256 too many open files 1',
   '256 sockets open, the 257th refused; one closed makes room for one');
is($t->get('hog.lua')->{body}, '256 too many open files 1', 'the next request has the same room: the first one\'s were closed');
is($t->get('udphog.lua')->{body}, '256 too many open files', 'udp sockets count too, with tcp ones');
my $after = scalar(() = glob('/proc/' . LFTest::serving_pid($t) . '/fd/*'));
cmp_ok($after - $before, '<', 16, "the serving process holds no request's sockets after it ($before, then $after)");
is($t->stop, 0, 'stops');
LFNet::stop($silent);
done_testing;
