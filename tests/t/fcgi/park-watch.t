# A kept connection parked by a worker while another thread leads (the
# worker's request waited, so a follower took the lead) is watched without
# waking the leader (dispatch_watch.c): its next request is answered at
# once, however far off the leader's own wait ends. And when its idle time
# ends before the leader would wake up anyway, the leader is woken all the
# same: it is closed after keepalive_timeout.
# one build: the dispatcher, all in C: the Lua build changes none of it
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use Time::HiRes qw(time);
use LFTest qw(closed_within);

my %scripts = (
    'id.lua'    => "function main(env, req) req:puts('id ', env.QUERY_STRING) end\n",
    'sleep.lua' => "function main(env, req) ngx.sleep(0.3) req:puts('slept') end\n",
);

sub ask {
    my ($t, $s, $name, $q) = @_;
    LFTest::write_all($s, LFTest::encode_request({ SCRIPT_FILENAME => $t->www . "/$name", REQUEST_METHOD => 'GET',
                                                  QUERY_STRING => $q }, '', keep_conn => 1))
        or return { status => 0, body => '' };
    return LFTest::read_response($s, timeout => 10);
}

# The leader polls until an idle connection parked long before times out
# (60 s away); a connection parked meanwhile by a worker is not in any poll
# set it built, yet its next request is seen at once, several times over.
{
    my $t = LFTest->new(conf => { workers => 2, keepalive_timeout => 60 }, scripts => \%scripts);
    $t->start;
    my $old = $t->connect;
    like(ask($t, $old, 'id.lua', 'old')->{body}, qr/^id old/, 'a kept connection, then idle');
    my $k = $t->connect;
    for my $round (1 .. 3) {
        like(ask($t, $k, 'sleep.lua', '')->{body}, qr/^slept/, "round $round: a request that waits, on a kept connection");
        my $t0 = time;
        my $r = ask($t, $k, 'id.lua', "next$round");
        my $took = time - $t0;
        like($r->{body}, qr/^id next$round/, "round $round: its next request is answered");
        ok($took < 2, sprintf('round %d: at once (%.3f s), not when the leader next wakes up', $round, $took));
    }
    like(ask($t, $old, 'id.lua', 'again')->{body}, qr/^id again/, 'the connection parked first is served too');
    $t->stop;
}

# Nothing else parked, so the leader waits with no end: a connection
# parked under it, idle, is closed after keepalive_timeout all the same.
# A worker idle for 2 s (worker.c's WORKER_IDLE_MS) gives its buffers back
# and from then on leads with no end to its wait: past that, no other
# wake-up comes to close the connection.
{
    my $t = LFTest->new(conf => { workers => 2, keepalive_timeout => 1 }, scripts => \%scripts);
    $t->start;
    sleep 3;
    my $k = $t->connect;
    like(ask($t, $k, 'sleep.lua', '')->{body}, qr/^slept/, 'a request that waits, on a kept connection');
    my $t0 = time;
    ok(closed_within($k, 6), 'then idle, the connection is closed');
    ok(time - $t0 >= 0.5, sprintf('after keepalive_timeout (%.3f s)', time - $t0));
    like($t->get('id.lua', QUERY_STRING => 'after')->{body}, qr/^id after/, 'the daemon serves on');
    $t->stop;
}

done_testing;
