# LuaSocket keeps the request's limits: with no timeout set, a receive on
# a server that never answers ends at the request's timeout, not the
# server's leisure; a shorter timeout of the script's own still wins;
# socket.select and socket.sleep are bounded, socket.unix's sockets too; a name is looked up within
# the limits, and a reverse lookup is refused; meanwhile the other worker
# serves.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use File::Temp ();
use IO::Socket::UNIX;
use Socket qw(SOCK_STREAM);
use Time::HiRes qw(time);
use LFTest;
use LFNet;

plan skip_all => 'LuaSocket is not installed (lua-socket)' unless -f '/usr/share/lua/5.1/socket.lua';

my $t = LFTest->new(conf => { workers => 2, timeout => 2 });
my $silent = LFNet::fault('silent');
$t->script('ls.lua', <<"LUA");
local socket = require "socket"
function main(env, req)
  local q = env.QUERY_STRING
  if q == "select" then socket.select({}, {}, nil) req:puts("select returned") return end
  if q == "sleep" then socket.sleep(1e6) req:puts("slept") return end
  if q == "reverse" then req:puts(tostring(select(2, socket.dns.tohostname("127.0.0.1")))) return end
  if q == "toip" then req:puts(tostring(socket.dns.toip("localhost"))) return end
  if q == "unix-after" then
    -- socket.unix loaded after a socket's timeout was set: it is kept
    local c = socket.tcp()
    c:settimeout(0.3)
    local ok, err = c:connect("127.0.0.1", $silent->{port})
    if not ok then req:puts("connect: ", err) return end
    require "socket.unix"
    local line, e = c:receive("*l")
    req:puts(tostring(line), " ", tostring(e))
    return
  end
  local c = socket.tcp()
  if q == "short" then c:settimeout(0.3) end
  local ok, err = c:connect("localhost", $silent->{port})
  if not ok then req:puts("connect: ", err) return end
  local line, e = c:receive("*l")
  req:puts(tostring(line), " ", tostring(e))
end
LUA
$t->script('quick.lua', "function main(env, req) req:puts('quick') end\n");
# socket.unix loads apart from socket.core: a unix socket that listens and
# never accepts, nor answers
my $udir = File::Temp::tempdir('lf-lsunix.XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $usilent = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => "$udir/silent.sock", Listen => 8)
    or die "unix listen: $!";
$t->script('unix.lua', <<"LUA");
local socket = require "socket"
local unix = require "socket.unix"
function main(env, req)
  local c = type(unix) == "table" and unix.stream() or unix()
  if env.QUERY_STRING == "short" then c:settimeout(0.3) end
  local ok, err = c:connect("$udir/silent.sock")
  if not ok then req:puts("connect: ", err) return end
  local line, e = c:receive("*l")
  req:puts(tostring(line), " ", tostring(e))
end
LUA
$t->start;

sub timed { my ($q) = @_; my $t0 = time; my $r = $t->get('ls.lua', QUERY_STRING => $q); return ($r, time - $t0) }

my $h = LFTest::start_clients(1, sub { my ($r, $dt) = timed(''); "$r->{status} $dt " . ($r->{body} =~ /timeout/ ? 'timeout' : $r->{body}) });
ok(LFTest::wait_for(sub { LFNet::established_to($silent->{port}) >= 1 }, 5), 'one request waits on the silent server');
is($t->get('quick.lua')->{body}, 'quick', 'the other worker serves meanwhile');
my ($res) = LFTest::wait_clients($h, 15);
my ($status, $dt, $why) = split ' ', $res // '', 3;
is($status, 500, 'a receive with no timeout on a silent server ends the request');
ok(defined $dt && $dt >= 1.8 && $dt < 4, sprintf('at the request\'s timeout (%.2f s)', $dt // -1));
is($why, 'timeout', 'as a timeout');

my ($r, $t2) = timed('short');
is($r->{body}, 'nil timeout', 'a shorter timeout of the script\'s own still answers "timeout"');
ok($t2 < 1.5, sprintf('after it (%.2f s)', $t2));
($r, $t2) = timed('select');
is($r->{status}, 500, 'socket.select with no timeout ends at the request\'s');
ok($t2 < 4, sprintf('in time (%.2f s)', $t2));
($r, $t2) = timed('sleep');
is($r->{status}, 500, 'socket.sleep of a million seconds too');
ok($t2 < 4, sprintf('in time (%.2f s)', $t2));
SKIP: {
    skip 'no socket.unix in this LuaSocket', 6 unless glob('/usr/lib/*/lua/5.1/socket/unix.so') || -f '/usr/lib/lua/5.1/socket/unix.so';
    my $t0 = time;
    $r = $t->get('unix.lua');
    my $du = time - $t0;
    is($r->{status}, 500, 'socket.unix: a receive with no timeout on a silent server ends the request') or diag($r->{body});
    ok($du >= 1.8 && $du < 4, sprintf('at the request\'s timeout, not at terminate_timeout (%.2f s)', $du));
    ($r, $t2) = (undef, time);
    $r = $t->get('ls.lua', QUERY_STRING => 'unix-after');
    is($r->{body}, 'nil timeout', 'socket.unix loaded after a timeout was set keeps it');
    ok(time - $t2 < 1.5, sprintf('at it (%.2f s)', time - $t2));
    ($r, $t2) = (undef, time);
    $r = $t->get('unix.lua', QUERY_STRING => 'short');
    is($r->{body}, 'nil timeout', 'socket.unix: a shorter timeout of the script\'s own still answers "timeout"');
    ok(time - $t2 < 1.5, 'after it');
}
is($t->get('ls.lua', QUERY_STRING => 'toip')->{body}, '127.0.0.1', 'names resolve through the bounded resolver (/etc/hosts)');
like($t->get('ls.lua', QUERY_STRING => 'reverse')->{body}, qr/reverse lookups cannot be bounded/, 'a reverse lookup is refused');

$t->stop;
LFNet::stop($silent, 'KILL');
done_testing;
