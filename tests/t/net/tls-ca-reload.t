# A HUP reloads ssl_trusted_certificate's file even when its path is the
# same (a CA file rotated in place, as certificate renewals do), as nginx
# reads its lua_ssl_trusted_certificate again on a reload: the
# certificates in the file after the HUP are the ones a verify trusts.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use File::Copy qw(copy);
use IO::Socket::INET;
use LFTest qw(wait_for free_port slurp);

plan skip_all => 'openssl is not installed (tools/deps --test)' unless -x '/usr/bin/openssl';

my $t = LFTest->new(conf => { workers => 1, timeout => 10 });
my $dir = $t->dir;
my (%port, @pids);
for my $n (qw(a b)) {
    system("openssl req -x509 -newkey rsa:2048 -nodes -keyout $dir/$n.key -out $dir/$n.pem -days 2 "
           . "-subj /CN=localhost -addext subjectAltName=DNS:localhost >$dir/openssl.log 2>&1") == 0
        or BAIL_OUT('cannot make a certificate: ' . slurp("$dir/openssl.log"));
    $port{$n} = free_port();
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>', "$dir/s_server-$n.log");
        open(STDERR, '>&', \*STDOUT);
        exec('openssl', 's_server', '-accept', $port{$n}, '-cert', "$dir/$n.pem", '-key', "$dir/$n.key", '-www')
            or POSIX::_exit(127);
    }
    LFTest::track($pid, "openssl s_server ($n)");
    push @pids, $pid;
    ok(wait_for(sub { IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port{$n}) }, 10), "s_server $n listens");
}
copy("$dir/a.pem", "$dir/ca.pem") or die "copy: $!";
$t->write_conf(ssl_trusted_certificate => "$dir/ca.pem");
$t->script('verify.lua', <<'LUA');
local lf = require "luafcgid"
function main(env, req)
  local s = lf.socket.tcp()
  s:settimeout(3000)
  assert(s:connect("127.0.0.1", tonumber(env.QUERY_STRING)))
  local ok, err = s:sslhandshake(false, "localhost", true)
  req:puts(tostring(ok), " ", tostring(err))
  s:close()
end
LUA
$t->start;
is($t->get('verify.lua', QUERY_STRING => $port{a})->{body}, 'true nil', 'the CA file trusts a');
like($t->get('verify.lua', QUERY_STRING => $port{b})->{body}, qr/^nil \d+: /, 'and not b');
copy("$dir/b.pem", "$dir/ca.pem.new") or die "copy: $!";
rename("$dir/ca.pem.new", "$dir/ca.pem") or die "rename: $!";
my $before = () = $t->log =~ /reloaded/g;
$t->signal('HUP');
ok(wait_for(sub { (() = $t->log =~ /reloaded/g) > $before }, 10), 'HUP');
is($t->get('verify.lua', QUERY_STRING => $port{b})->{body}, 'true nil', 'after the file is replaced and a HUP: b is trusted');
like($t->get('verify.lua', QUERY_STRING => $port{a})->{body}, qr/^nil \d+: /, 'and a no longer');
$t->stop;
LFTest::stop_pid($_, 'TERM', 10) for @pids;
done_testing;
