# sslhandshake against a local `openssl s_server` with a self-signed
# certificate: without the CA the verify fails with OpenSSL's words and
# code, as ngx_lua gives them; with it (ssl_trusted_certificate) it
# succeeds, a wrong name is "certificate host mismatch", and the session
# it returns is reused by the next handshake.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFTest qw(wait_for free_port slurp);
use IO::Socket::INET;

plan skip_all => 'openssl is not installed (tools/deps --test)' unless -x '/usr/bin/openssl';

my $t = LFTest->new(conf => { workers => 2, timeout => 10 });
my $dir = $t->dir;
system("openssl req -x509 -newkey rsa:2048 -nodes -keyout $dir/key.pem -out $dir/cert.pem -days 2 "
       . "-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 >$dir/openssl.log 2>&1") == 0
    or BAIL_OUT('cannot make a certificate: ' . slurp("$dir/openssl.log"));
my $port = free_port();
my $pid = fork // die "fork: $!";
if ($pid == 0) {
    open(STDIN, '<', '/dev/null');
    open(STDOUT, '>', "$dir/s_server.log");
    open(STDERR, '>&', \*STDOUT);
    # TLS 1.2: the session is complete when the handshake is (a TLS 1.3
    # ticket comes after it)
    exec('openssl', 's_server', '-accept', $port, '-cert', "$dir/cert.pem", '-key', "$dir/key.pem",
         '-www', '-no_tls1_3') or POSIX::_exit(127);
}
LFTest::track($pid, 'openssl s_server');
ok(wait_for(sub { IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port) }, 10), 's_server listens');

$t->script('tls.lua', <<"LUA");
local lf = require "luafcgid"
local function page(name, verify, session)
  local s = lf.socket.tcp()
  s:settimeout(3000)
  assert(s:connect("127.0.0.1", $port))
  local sess, err = s:sslhandshake(session, name, verify)
  if not sess then return nil, err end
  s:send("GET / HTTP/1.0\\r\\n\\r\\n")
  local body = s:receive("*a")
  s:close()
  return sess, body:match("\\n(New), ") or body:match("\\n(Reused), ") or body
end
function main(env, req)
  local q = env.QUERY_STRING
  if q == "verify" then
    req:puts(tostring(select(2, page("localhost", true))))
  elseif q == "noverify" then
    local sess, how = page(nil, false)
    req:puts(type(sess), " ", how)
  elseif q == "mismatch" then
    req:puts(tostring(select(2, page("other.example", true))))
  elseif q == "reuse" then
    local sess, how = page("localhost", true)
    local sess2, how2 = page("localhost", true, sess)
    req:puts(how, " ", how2)
  elseif q == "nosession" then
    local s = lf.socket.tcp()
    assert(s:connect("127.0.0.1", $port))
    req:puts(tostring(s:sslhandshake(false)))
    s:close()
  end
end
LUA
$t->start;
is($t->get('tls.lua', QUERY_STRING => 'verify')->{body}, '18: self-signed certificate',
   'no CA given: the verify fails with OpenSSL\'s code and words');
is($t->get('tls.lua', QUERY_STRING => 'noverify')->{body}, 'userdata New', 'without verify it goes through');
is($t->get('tls.lua', QUERY_STRING => 'nosession')->{body}, 'true', 'reused_session false: true, no session');
$t->stop;

$t->write_conf(ssl_trusted_certificate => "$dir/cert.pem");
$t->start;
is($t->get('tls.lua', QUERY_STRING => 'verify')->{body}, 'New', 'with the CA it verifies') or diag $t->log;
is($t->get('tls.lua', QUERY_STRING => 'mismatch')->{body}, 'certificate host mismatch', 'another name: "certificate host mismatch"');
is($t->get('tls.lua', QUERY_STRING => 'reuse')->{body}, 'New Reused', 'the session returned is reused by the next handshake');
$t->stop;
LFTest::stop_pid($pid, 'TERM', 10);
done_testing;
