# sslhandshake on a connection taken from the pool (through its handshake
# already) answers as ngx_lua does: true when reused_session is false, a
# session when it is nil or true; never false or nil, which every client
# library reads as a failed handshake (lua-resty-redis passes false, so a
# TLS connection to redis failed each time it was reused).
#
# The server is Python's ssl module (python3 comes with tools/deps --test):
# a TLS echo server that keeps its connections.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFTest qw(wait_for slurp spew);

plan skip_all => 'python3 or openssl is not installed (tools/deps --test)'
    unless -x '/usr/bin/python3' && -x '/usr/bin/openssl';

my $t = LFTest->new(conf => { workers => 1, timeout => 10 });
my $dir = $t->dir;
system("openssl req -x509 -newkey rsa:2048 -nodes -keyout $dir/key.pem -out $dir/cert.pem -days 2 "
       . "-subj /CN=localhost >$dir/openssl.log 2>&1") == 0
    or BAIL_OUT('cannot make a certificate: ' . slurp("$dir/openssl.log"));
spew("$dir/echo.py", <<'PY');
import os, socket, ssl, sys, threading
cert, key, portfile = sys.argv[1:4]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
l = socket.socket()
l.bind(("127.0.0.1", 0))
l.listen(16)
open(portfile + ".tmp", "w").write(str(l.getsockname()[1]))
os.rename(portfile + ".tmp", portfile)
def serve(c):
    try:
        c.settimeout(20)
        s = ctx.wrap_socket(c, server_side=True)
        while True:
            d = s.recv(4096)
            if not d:
                break
            s.sendall(d)
    except Exception:
        pass
for _ in range(50):
    c, _ = l.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
my $pid = fork // die "fork: $!";
if ($pid == 0) {
    open(STDERR, '>', "$dir/echo.log");
    exec('/usr/bin/python3', "$dir/echo.py", "$dir/cert.pem", "$dir/key.pem", "$dir/echo.port") or POSIX::_exit(127);
}
LFTest::track($pid, 'python TLS echo server');
ok(wait_for(sub { -s "$dir/echo.port" }, 10), 'the TLS echo server listens') or diag slurp("$dir/echo.log");
my $port = slurp("$dir/echo.port");

$t->script('reuse.lua', <<"LUA");
local lf = require "luafcgid"
function main(env, req)
  local how = env.QUERY_STRING
  local arg
  if how == "true" then arg = true elseif how == "false" then arg = false end
  local s = lf.socket.tcp()
  s:settimeout(2000)
  assert(s:connect("127.0.0.1", $port, { pool = "tls-" .. how }))
  local r = s:getreusedtimes()
  local sess, err = s:sslhandshake(arg, "localhost", false)
  s:send("ping\\n")
  local line = s:receive()
  req:puts(r, " ", type(sess), " ", tostring(sess == true or nil), " ", tostring(err), " ", tostring(line))
  s:setkeepalive()
end
LUA
$t->start;
my %want = (false => 'boolean true', nil => 'userdata nil', true => 'userdata nil');
for my $how (qw(false nil true)) {
    is($t->get('reuse.lua', QUERY_STRING => $how)->{body}, "0 $want{$how} nil ping",
       "reused_session $how, a new connection: $want{$how}");
    is($t->get('reuse.lua', QUERY_STRING => $how)->{body}, "1 $want{$how} nil ping",
       "reused_session $how, the pooled connection: the same answer");
}
$t->stop;
LFTest::stop_pid($pid, 'KILL', 5);
done_testing;
