# A burst of new connections while every worker is busy, as nginx opens
# them past its upstream keepalive (c256 behind `keepalive 32`): with the
# default backlog none is refused. nginx connects without blocking, and a
# unix socket whose backlog is full refuses such a connect at once
# (EAGAIN: nginx answers 502); the daemon takes `backlog` new ones into
# its own queue and the kernel holds `backlog` more.
# one build: the FastCGI records, connections and dispatch, all in C: the Lua build changes none of it
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use Errno qw(EAGAIN);
use Fcntl qw(F_GETFL F_SETFL O_NONBLOCK);
use Socket qw(AF_UNIX SOCK_STREAM pack_sockaddr_un);
use LFTest qw(wait_for);

my $n = 400;
my $t = LFTest->new(conf => { workers => 1, timeout => 30 });
$t->script('hello.lua', 'function main(env, req) req:puts("hello") end');
$t->start;

my @held = $t->hold_workers;
is(scalar @held, 1, 'the only worker is held');

# connect as nginx does, and send the request at once
my ($refused, @socks) = (0);
for (1 .. $n) {
    socket(my $s, AF_UNIX, SOCK_STREAM, 0) or BAIL_OUT("socket: $!");
    my $fl = fcntl($s, F_GETFL, 0);
    fcntl($s, F_SETFL, $fl | O_NONBLOCK) or BAIL_OUT("fcntl: $!");
    if (!connect($s, pack_sockaddr_un($t->listen_addr))) {
        BAIL_OUT("connect: $!") unless $! == EAGAIN;
        $refused++;
        next;
    }
    fcntl($s, F_SETFL, $fl) or BAIL_OUT("fcntl: $!");
    LFTest::write_all($s, LFTest::encode_request({ SCRIPT_FILENAME => $t->www . '/hello.lua',
                                                   REQUEST_METHOD => 'GET' }, ''));
    push @socks, $s;
}
is($refused, 0, "$n connections at once while every worker is busy: none refused") or diag "$refused refused, " . scalar(@socks) . " connected";

is($t->release_workers(@held), 1, 'the held request ends once let go');
my $served = grep { LFTest::read_response($_, timeout => 30)->{body} eq 'hello' } @socks;
is($served, scalar @socks, 'every request that waited is served');
ok(LFTest::alive($t->pid), 'the daemon is still running');
$t->stop;
done_testing;
