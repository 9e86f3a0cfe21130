# Session reuse with TLS 1.3 (OpenSSL 3's default, and most servers'): the
# server's session ticket comes after the handshake, so the session that
# sslhandshake returned must be the one the ticket made once the
# connection has been read from (as nginx keeps it, through a new session
# callback), not the ticketless one of the handshake's end: the next
# handshake given it resumes. tls.t tests TLS 1.2.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use IO::Socket::INET;
use LFTest qw(wait_for free_port slurp);

plan skip_all => 'openssl is not installed (tools/deps --test)' unless -x '/usr/bin/openssl';

my $t = LFTest->new(conf => { workers => 1, timeout => 10 });
my $dir = $t->dir;
system("openssl req -x509 -newkey rsa:2048 -nodes -keyout $dir/key.pem -out $dir/cert.pem -days 2 "
       . "-subj /CN=localhost >$dir/openssl.log 2>&1") == 0
    or BAIL_OUT('cannot make a certificate: ' . slurp("$dir/openssl.log"));
my $port = free_port();
my $pid = fork // die "fork: $!";
if ($pid == 0) {
    open(STDIN, '<', '/dev/null');
    open(STDOUT, '>', "$dir/s_server.log");
    open(STDERR, '>&', \*STDOUT);
    exec('openssl', 's_server', '-accept', $port, '-cert', "$dir/cert.pem", '-key', "$dir/key.pem",
         '-www', '-tls1_3') or POSIX::_exit(127);
}
LFTest::track($pid, 'openssl s_server');
ok(wait_for(sub { IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port) }, 10), 's_server listens');

$t->script('tls13.lua', <<"LUA");
local lf = require "luafcgid"
local function page(session)
  local s = lf.socket.tcp()
  s:settimeout(3000)
  assert(s:connect("127.0.0.1", $port))
  local sess, err = s:sslhandshake(session, "localhost", false)
  if not sess then return nil, err end
  s:send("GET / HTTP/1.0\\r\\n\\r\\n")
  local body = s:receive("*a")
  s:close()
  return sess, body:match("\\n(New), ") or body:match("\\n(Reused), ") or body
end
function main(env, req)
  local sess, how = page(nil)
  local sess2, how2 = page(sess)
  req:puts(tostring(how), " ", tostring(how2))
end
LUA
$t->start;
is($t->get('tls13.lua')->{body}, 'New Reused', 'TLS 1.3: the session returned is reused by the next handshake');
$t->stop;
LFTest::stop_pid($pid, 'TERM', 10);
done_testing;
