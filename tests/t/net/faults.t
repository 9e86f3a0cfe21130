# Servers that misbehave: every socket call ends by its own timeout or the
# request's deadline, with ngx_lua's error, holding no worker past it; no
# connection that saw an error is pooled; the daemon serves on, its RSS
# bounded.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use Time::HiRes qw(time);
use LFTest qw(wait_for slurp);
use LFNet;

my $t = LFTest->new(conf => { workers => 2, timeout => 3, memory => 32 * 1024 * 1024, socket_timeout => 60,
                              status_path => '/status' });
my %srv = map { $_ => LFNet::fault($_) } qw(silent drip cut flood);
my $refused = LFTest::free_port();

$t->script('fault.lua', <<'LUA');
local lf = require "luafcgid"
function main(env, req)
  req:header("Content-Type", "text/plain")
  local port, how, ms = env.QUERY_STRING:match("^(%d+)&(%w+)&?(%d*)$")
  local s = lf.socket.tcp()
  if ms ~= "" then s:settimeout(tonumber(ms)) end
  local ok, err = s:connect(how == "name" and "nosuch.invalid" or "127.0.0.1", tonumber(port))
  if not ok then req:puts("connect: ", err) return end
  if how == "line" then
    s:send("GET\r\n")
    local a, e1, p1 = s:receive("*l")
    local b, e2, p2 = s:receive(12)
    req:puts(tostring(a), "|", tostring(b), "|", tostring(e2), "|", tostring(p2), "|", tostring(s:receive()))
  elseif how == "all" then
    local d, e, p = s:receive("*a")
    req:puts(tostring(d and #d), " ", tostring(e), " ", tostring(p and #p))
  elseif how == "count" then
    local d, e, p = s:receive(100)
    req:puts(tostring(d), " ", tostring(e), " ", tostring(p and #p > 0))
    req:puts(" keep=", tostring(select(2, s:setkeepalive())))
  else
    local d, e, p = s:receive()
    req:puts(tostring(d), " ", tostring(e), " [", tostring(p), "]")
    req:puts(" keep=", tostring(select(2, s:setkeepalive())))
  end
end
LUA
$t->script('quick.lua', "function main(env, req) req:puts('quick') end\n");
$t->start;

sub timed {
    my ($q) = @_;
    my $t0 = time;
    my $r = $t->get('fault.lua', QUERY_STRING => $q);
    return ($r, time - $t0);
}

sub established_to { LFNet::established_to(@_) }

my ($r, $dt) = timed("$srv{silent}{port}&line2&500");
like($r->{body}, qr/^nil timeout \[\] keep=invalid connection$/, 'a silent server: "timeout" after the socket\'s 500 ms, and the connection is not kept');
ok($dt < 2, sprintf('within its timeout (%.2f s)', $dt));

# no socket timeout shorter than the request's: the request ends at its own
my $busy = LFTest::start_clients(1, sub { my ($r) = timed("$srv{silent}{port}&line2"); "$r->{status} " . ($r->{body} =~ /timeout/ ? 'timeout' : $r->{body}) });
wait_for(sub { established_to($srv{silent}{port}) >= 1 }, 5);
my $t0 = time;
is($t->get('quick.lua')->{body}, 'quick', 'meanwhile another worker serves');
ok(time - $t0 < 2.5, sprintf('at once, long before the other ends (%.2f s)', time - $t0));
my ($busy_result) = LFTest::wait_clients($busy, 10);
like($busy_result // '', qr/^500 timeout/, 'the request waiting on a silent server ends at the request\'s timeout (3 s)');
ok(wait_for(sub { established_to($srv{silent}{port}) == 0 }, 5), 'and its socket is closed');

($r, $dt) = timed("$srv{drip}{port}&count&1500");
like($r->{body}, qr/timeout: the request ran/, 'one byte a second, a read timeout it never reaches: the request ends at its deadline');
ok($dt < 5, sprintf('within the request timeout (%.2f s)', $dt));
($r, $dt) = timed("$srv{drip}{port}&count&300");
like($r->{body}, qr/^nil timeout true keep=invalid connection$/, 'one byte a second, a 300 ms read timeout: "timeout" with the partial data');

($r) = timed("$srv{cut}{port}&line");
is($r->{body}, '$10|nil|closed|half|nil', 'a server that closes mid-reply: "closed" with the partial data, then "closed"');

($r, $dt) = timed("$srv{flood}{port}&all");
is($r->{status}, 500, 'a server that sends without end: the request ends at the memory limit') or diag $r->{body};
like($t->log, qr/memory limit reached/, 'and says so');
ok($dt < 5, sprintf('in time (%.2f s)', $dt));

($r, $dt) = timed("$refused&line");
is($r->{body}, 'connect: connection refused', 'nothing listening: "connection refused"');
($r, $dt) = timed("80&name&1000");
like($r->{body}, qr/^connect: nosuch\.invalid could not be resolved \(\d+: [A-Za-z ]+\)$/, 'a name that does not resolve: nginx\'s resolver error');
ok($dt < 3, sprintf('within the connect timeout (%.2f s)', $dt));

my $rss = (slurp("/proc/" . LFTest::serving_pid($t) . "/status") =~ /^VmRSS:\s+(\d+)/m)[0];
ok($rss && $rss < 256 * 1024, "RSS stays bounded after a flood ($rss kB)");
is($t->get('quick.lua')->{body}, 'quick', 'the daemon serves on');
my $status = $t->get('/status', SCRIPT_NAME => '/status')->{body};
like($status, qr/key:\s+127\.0\.0\.1:$srv{silent}{port}\s+idle:\s+0\s+in use:\s+0\s+connects:\s+\d+\s+reuses:\s+0\s+timeouts:\s+[1-9]/,
     'the status page counts the silent server\'s timeouts, and nothing of it is kept');

$t->stop;
LFNet::stop($_, 'KILL') for values %srv;
done_testing;
