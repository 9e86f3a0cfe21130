# A TLS stream that goes bad (a record that fails its integrity check, as
# a corrupted or tampered stream gives) is an error, as ngx_lua answers it:
# receive("*a") gives nil, "error" and what came before, never the data cut
# short as if the server had ended it. (A clean close_notify, or the TCP
# stream ending, stays the end of "*a".) A server gone without close_notify
# ended the stream, as nginx takes it (SSL_OP_IGNORE_UNEXPECTED_EOF): the
# connection is not failed, so a send after it goes out, as ngx_lua's does.
#
# The server is Python's ssl module (python3 comes with tools/deps --test):
# it answers "hello world" through TLS, then writes a forged application
# data record straight onto the TCP socket.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFTest qw(wait_for slurp spew);

plan skip_all => 'python3 or openssl is not installed (tools/deps --test)'
    unless -x '/usr/bin/python3' && -x '/usr/bin/openssl';

my $t = LFTest->new(conf => { workers => 2, timeout => 10 });
my $dir = $t->dir;
system("openssl req -x509 -newkey rsa:2048 -nodes -keyout $dir/key.pem -out $dir/cert.pem -days 2 "
       . "-subj /CN=localhost >$dir/openssl.log 2>&1") == 0
    or BAIL_OUT('cannot make a certificate: ' . slurp("$dir/openssl.log"));
spew("$dir/tls.py", <<'PY');
import os, socket, ssl, sys, threading, time
mode, cert, key, portfile = sys.argv[1:5]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
l = socket.socket()
l.bind(("127.0.0.1", 0))
l.listen(16)
open(portfile + ".tmp", "w").write(str(l.getsockname()[1]))
os.rename(portfile + ".tmp", portfile)
def serve(c):
    try:
        c.settimeout(5)
        s = ctx.wrap_socket(c, server_side=True)
        s.recv(100)
        s.sendall(b"hello world")
        time.sleep(0.05)
        if mode == "forged":
            os.write(s.fileno(), b"\x17\x03\x03\x00\x10" + b"G" * 16)
            time.sleep(0.5)
            c.close()
        elif mode == "gone":
            c.close()
        else:
            s.unwrap()
            c.close()
    except Exception:
        pass
for _ in range(50):
    c, _ = l.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
my %port;
for my $mode (qw(forged clean gone)) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open(STDERR, '>', "$dir/$mode.log");
        exec('/usr/bin/python3', "$dir/tls.py", $mode, "$dir/cert.pem", "$dir/key.pem", "$dir/$mode.port")
            or POSIX::_exit(127);
    }
    LFTest::track($pid, "python TLS server ($mode)");
    $port{$mode} = { pid => $pid };
    ok(wait_for(sub { -s "$dir/$mode.port" }, 10), "the $mode server listens") or diag slurp("$dir/$mode.log");
    $port{$mode}{port} = slurp("$dir/$mode.port");
}

$t->script('tls.lua', <<'LUA');
local lf = require "luafcgid"
function main(env, req)
  local s = lf.socket.tcp()
  s:settimeout(3000)
  assert(s:connect("127.0.0.1", tonumber(env.QUERY_STRING)))
  assert(s:sslhandshake(nil, "localhost", false))
  s:send("GET\n")
  local data, err, partial = s:receive("*a")
  req:puts(tostring(data), " ", tostring(err), " ", tostring(partial))
  if env.QUERY_STRING == env.HTTP_X_GONE then
    req:puts(" | ", tostring(s:send("x")), " ", tostring(s:close()))
  end
  s:close()
end
LUA
$t->start;
is($t->get('tls.lua', QUERY_STRING => $port{clean}{port})->{body}, 'hello world nil nil',
   'a clean end of the TLS stream ends "*a" with the data');
is($t->get('tls.lua', QUERY_STRING => $port{forged}{port})->{body}, 'nil error hello world',
   'a forged record: nil, "error" and the data before it, as ngx_lua');
is($t->get('tls.lua', QUERY_STRING => $port{gone}{port}, HTTP_X_GONE => $port{gone}{port})->{body},
   'hello world nil nil | 1 1',
   'a server gone without close_notify: the end of "*a"; a send then goes out and close answers 1');
$t->stop;
LFTest::stop_pid($port{$_}{pid}, 'KILL', 5) for keys %port;
done_testing;
