# One connection pool for the daemon: 5,000 requests through 4 workers to
# 4 scripts (with clones) hold no more connections to redis than run at
# once, getreusedtimes climbs, the status page shows the pool; redis
# killed and restarted under load costs only the requests of the outage,
# each at once, and no dead connection is handed out after.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use Time::HiRes qw(time);
use LFTest qw(wait_for);
use LFNet;

plan skip_all => 'redis-server is not installed (tools/deps --test)' unless -x '/usr/bin/redis-server';

my $t = LFTest->new(conf => { workers => 4, states => 16, clones => 4, timeout => 5, socket_pool_size => 8,
                              status_path => '/status' });
my $lib = LFNet::resty_libs($t->dir);
my $redis = LFNet::redis($t->dir);

for my $n (1 .. 4) {
    $t->script("page$n.lua", <<"LUA");
package.path = "$lib/?.lua;" .. package.path
local lf = require "luafcgid"
if not ngx then ngx = { socket = lf.socket, null = false } end
local redis = require "nginx.redis"
function main(env, req)
  local red = redis:new()
  red:set_timeout(1000)
  local ok, err = red:connect("127.0.0.1", $redis->{port})
  if not ok then req:puts("error connect ", err) req:log("notice", "redis refused") return end
  local v, err = red:incr("hits$n")
  if not v then req:puts("error incr ", err) red:close() return end
  local got, err = red:get("hits$n")
  if not got then req:puts("error get ", err) red:close() return end
  req:puts("ok ", red:get_reused_times(), " ", got)
  red:set_keepalive(10000, 8)
end
LUA
}
$t->start;

# redis' clients but the one asking (this test's, the only one that
# sends CLIENT)
sub clients_of_redis { scalar grep { !/\bcmd=client/ } LFNet::redis_cli($redis, 'CLIENT', 'LIST') }

my $t0 = time;
my $h = LFTest::start_clients(8, sub {
    my ($c) = @_;
    my ($ok, $maxreuse) = (0, 0);
    for my $i (1 .. 625) {
        my $r = $t->get('page' . (1 + ($c + $i) % 4) . '.lua');
        if ($r->{body} =~ /^ok (\d+) \d+$/) {
            $ok++;
            $maxreuse = $1 if $1 > $maxreuse;
        }
    }
    return "$ok $maxreuse";
});
my ($most, $sample_end) = (0, time + 240);
while (time < $sample_end && grep { LFTest::alive($_) } @{ $h->{pids} }) {     # sampled while they run
    my $n = clients_of_redis();
    $most = $n if $n > $most;
    select(undef, undef, undef, 0.02);
}
my @results = LFTest::wait_clients($h, 240);
my ($ok, $reuse) = (0, 0);
for (@results) {
    my ($o, $r) = split ' ', $_ // '0 0';
    $ok += $o;
    $reuse = $r if $r > $reuse;
}
is($ok, 5000, sprintf('5,000 requests answered (%.1f s)', time - $t0));
ok($most >= 1 && $most <= 4, "redis saw at most 4 connections at once, one per worker ($most)");
ok($reuse > 500, "getreusedtimes climbs ($reuse)");
ok(clients_of_redis() <= 4, 'and no more after');
my $status = $t->get('/status', SCRIPT_NAME => '/status', QUERY_STRING => 'json')->{body};
like($status, qr/"pools":\[\{"key":"127\.0\.0\.1:$redis->{port}","idle":[1-4],"in use":0,"connects":[1-4],"reuses":\d{4},"timeouts":0\}\]/,
     'the status page shows the pool: idle, in use, connects, reuses');

# redis killed and restarted while 4 clients keep asking
my $load = LFTest::start_clients(4, sub {
    my ($c) = @_;
    my ($n, $slow, %seen) = (0, 0);
    my $end = time + 4;
    while (time < $end) {
        my $t1 = time;
        my $r = $t->get("page$c.lua");
        $slow++ if time - $t1 > 3;     # its socket timeouts are 1 s
        my ($what) = $r->{body} =~ /^(ok|error \w+ [\w ]+)/;
        $seen{$what // "status $r->{status}"}++;
        $n++;
    }
    return join(',', "n=$n", "slow=$slow", map { "$_=$seen{$_}" } sort keys %seen);
});
# killed once the load has run a while (redis counted its commands), and
# started again once requests have met it gone
my ($cmds) = map { /^total_commands_processed:(\d+)/ ? $1 : () } LFNet::redis_cli($redis, 'INFO', 'stats');
LFTest::wait_for(sub { my ($n) = map { /^total_commands_processed:(\d+)/ ? $1 : () } LFNet::redis_cli($redis, 'INFO', 'stats');
                       ($n // 0) > $cmds + 2000 }, 10);
LFNet::stop($redis, 'KILL');
ok($t->wait_log(qr/redis refused/, 10), 'requests meet redis gone');
$redis = LFNet::redis($t->dir, port => $redis->{port});
my @load = LFTest::wait_clients($load, 30);
diag "under load: $_" for @load;
ok(!grep({ !defined $_ || !/slow=0,/ } @load), 'no request waited past its timeouts while redis was gone');
ok(!grep({ !defined $_ || !/ok=/ } @load), 'requests were served before and after');
ok(!grep({ defined $_ && /status 500/ } @load), 'none failed in the daemon')
    or diag join "\n", grep { /\[error\]/ } split /\n/, $t->log;
my @after = map { $t->get("page1.lua")->{body} } 1 .. 20;
is(scalar(grep { /^ok / } @after), 20, 'after the restart every request finds a live connection')
    or diag "@after";
unlike($t->log, qr/\[crit\]|signal/, 'the daemon did not crash');

# HUP flushes the states but keeps the pool; an upgrade's old process
# closes its kept connections as it leaves
my ($before) = $t->get('page1.lua')->{body} =~ /^ok (\d+)/;
$t->signal('HUP');
ok($t->wait_log(qr/reloaded/), 'HUP');
my ($after) = $t->get('page1.lua')->{body} =~ /^ok (\d+)/;
ok(defined $after && defined $before && $after > $before, "a fresh state after HUP takes a kept connection ($before, then $after)");
my $old = LFTest::serving_pid($t);
$t->signal('USR2');
ok($t->wait_log(qr/the new binary serves as pid (\d+)/, 30), 'USR2: the new binary serves');
my ($new) = $t->log =~ /the new binary serves as pid (\d+)/;
LFTest::track($new, 'luafcgid (upgraded)') if $new;
ok(LFTest::wait_for(sub { !LFTest::alive($old) }, 30), 'the old serving process leaves');
ok(LFTest::wait_for(sub { clients_of_redis() == 0 }, 10), 'and its kept connections are closed')
    or diag LFNet::redis_cli($redis, 'CLIENT', 'LIST');
like($t->get('page1.lua')->{body}, qr/^ok 0 /, 'the new process makes its own');

$t->stop;       # the old one's pid: it has gone
ok($new && kill('TERM', $new) && LFTest::wait_for(sub { !LFTest::alive($new) }, 20), 'TERM stops the upgraded daemon');
LFTest::untrack($new) if $new;
LFNet::stop($redis);
done_testing;
