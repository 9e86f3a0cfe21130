# The housekeeper's sweep closes kept connections idle past their
# keepalive time, and those their server has closed meanwhile (net.h says
# so, and ngx_lua closes a kept connection as soon as its server does):
# none stays in the pool as a half-closed descriptor until it is asked
# for, whatever its keepalive time (0: no limit). The status page shows
# what is left.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use IO::Socket::INET;
use LFTest qw(wait_for slurp);

# a server that closes every connection 300 ms after it was made
my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 16, ReuseAddr => 1)
    or die "listen: $!";
my $port = $l->sockport;
my $srv = fork // die "fork: $!";
if ($srv == 0) {
    $SIG{CHLD} = 'IGNORE';
    for (1 .. 50) {
        my $c = $l->accept or last;
        my $kid = fork;
        if (defined $kid && $kid == 0) { select(undef, undef, undef, 0.3); close $c; POSIX::_exit(0) }
        close $c;
    }
    POSIX::_exit(0);
}
LFTest::track($srv, 'closing server');
close $l;

my $t = LFTest->new(conf => { workers => 1, timeout => 5, sweep => 200, status_path => '/status' });
$t->script('keep.lua', <<"LUA");
local lf = require "luafcgid"
function main(env, req)
  local s = lf.socket.tcp()
  assert(s:connect("127.0.0.1", $port, { pool = env.QUERY_STRING }))
  req:puts(tostring(s:setkeepalive(env.QUERY_STRING == "expiring" and 300 or 0)))
end
LUA
$t->start;
my $pid = LFTest::serving_pid($t);

sub idle_of {
    my ($key) = @_;
    my $st = $t->get('/status', SCRIPT_NAME => '/status', QUERY_STRING => 'json')->{body};
    return $st =~ /"key":"\Q$key\E","idle":(\d+)/ ? $1 : -1;
}
# the serving process's TCP sockets to the server's port, in any state
sub sockets_to_server {
    my %inodes = map { (readlink($_) // '') =~ /^socket:\[(\d+)\]$/ ? ($1 => 1) : () } glob("/proc/$pid/fd/*");
    my $n = 0;
    for my $line (split /\n/, slurp('/proc/net/tcp')) {
        my @f = split ' ', $line;
        next unless @f > 9 && $f[2] =~ /:([0-9A-F]{4})$/ && hex($1) == $port;
        $n++ if $inodes{ $f[9] };
    }
    return $n;
}

is($t->get('keep.lua', QUERY_STRING => 'expiring')->{body}, '1', 'kept for 300 ms');
is($t->get('keep.lua', QUERY_STRING => 'forever')->{body}, '1', 'kept with no time limit');
is(idle_of('forever'), 1, 'both are in the pool');
ok(wait_for(sub { idle_of('expiring') == 0 }, 5), 'the one kept for 300 ms is closed by a sweep');
ok(wait_for(sub { idle_of('forever') == 0 }, 5), 'the one its server closed is closed by a sweep too');
ok(wait_for(sub { sockets_to_server() == 0 }, 5), 'no descriptor to the server is left open')
    or diag sockets_to_server() . ' left';
$t->stop;
LFTest::stop_pid($srv, 'KILL', 5);
done_testing;
