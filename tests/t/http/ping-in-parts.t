# A ping not all there at first, while every worker is busy: written in
# parts (Apache writes BEGIN_REQUEST apart), in one-byte records, or after
# a long QUERY_STRING. The service thread looks at a request that is not
# all there again until it is whole or a worker is free, however long the
# client takes between its parts: the workers are held, so an answer is
# the service thread's.
# one build: the service thread reads the ping, no script runs: the Lua build changes none of it
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFTest qw(wait_for);

sub pair { LFTest::nv_len($_[0]) . LFTest::nv_len($_[1]) . $_[0] . $_[1] }

my $t = LFTest->new(conf => { workers => 2, timeout => 60, client_timeout => 30, ping_path => '/ping' },
                    scripts => { 'who.lua' => 'function main(env, req) req:puts("script ran") end' });
$t->start;
my $begin = LFTest::record(1, 1, pack('nCx5', 1, 0));
my $p = pair('SCRIPT_NAME', '/ping') . pair('REQUEST_METHOD', 'GET');
my %cases = (
    'written in two parts' => [$begin, LFTest::stream(4, 1, $p) . LFTest::stream(5, 1, '')],
    'in one-byte records'  => [$begin . join('', map { LFTest::record(4, 1, $_) } split //, pair('QUERY_STRING', 'q' x 300) . $p)
                               . LFTest::record(4, 1, '') . LFTest::stream(5, 1, '')],
    'after a 5 KB QUERY_STRING' => [$begin . LFTest::stream(4, 1, pair('QUERY_STRING', 'json&' . ('q' x 5000)) . $p)
                                    . LFTest::stream(5, 1, '')],
    'with its end written apart' => [$begin . LFTest::stream(4, 1, $p), LFTest::stream(5, 1, '')],
    # a client slowed down (a loaded machine, a slow network): a second
    # between its writes
    'with its params a second late' => [$begin, 1, LFTest::stream(4, 1, $p) . LFTest::stream(5, 1, '')],
);
for my $k (sort keys %cases) {
    my @held = $t->hold_workers;
    is(scalar @held, 2, "a ping $k: every worker is held");
    my $before = LFTest::sockets($t);
    my $s = $t->connect;
    my @w = @{ $cases{$k} };
    for my $i (0 .. $#w) {
        if ($w[$i] =~ /^\d+\z/) {    # a pause, s
            sleep $w[$i];
            next;
        }
        LFTest::write_all($s, $w[$i]);
        # seen apart from the rest: taken in by the service thread first
        ok(wait_for(sub { LFTest::sockets($t) > $before }, 5), "a ping $k: taken in") if $i < $#w;
    }
    my $r = LFTest::read_response($s, timeout => 10);
    is($r->{body}, 'pong', "a ping $k is answered while every worker is busy");
    close $s;
    is($t->release_workers(@held), 2, "a ping $k: let go, the held requests end");
    ok(wait_for(sub { $t->fcgi({ SCRIPT_FILENAME => $t->www . '/who.lua', REQUEST_METHOD => 'GET' }, '',
                               timeout => 2)->{body} eq 'script ran' }, 15), "a ping $k: the workers are back");
}
is($t->stop, 0, 'stop');
done_testing;
