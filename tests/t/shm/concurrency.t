# Each operation is atomic across workers, scripts and their clones: 4
# workers x 2,500 incr from two scripts, each run in several states at
# once, count exactly 10,000. And a dictionary stays inside its size:
# 100 MB written into a 1 MiB dictionary keep the serving process's
# shared memory at that size and its RSS nearly flat, evicting the least
# recently used first.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use IO::Select;
use LFTest qw(wait_for slurp);

my $counter = <<'LUA';
local d = require("luafcgid").shared.counters
function main(env, req)
  local x = 0
  for i = 1, 20000 do x = x + i end     -- long enough for requests to overlap
  req:puts((d:incr("hits", 1, 0)))
end
LUA

# N requests for SCRIPT on one kept connection; how many were answered 200.
sub requests {
    my ($t, $script, $n) = @_;
    my $s = $t->connect or return 0;
    my $ok = 0;
    for my $i (1 .. $n) {
        my %p = (SCRIPT_FILENAME => $t->www . "/$script", REQUEST_METHOD => 'GET', QUERY_STRING => '',
                 GATEWAY_INTERFACE => 'CGI/1.1', SERVER_PROTOCOL => 'HTTP/1.1');
        LFTest::write_all($s, LFTest::encode_request(\%p, '', keep_conn => 1, id => 1)) or last;
        my $r = LFTest::read_response($s, timeout => 30);
        last unless $r->{ended};
        $ok++ if $r->{status} == 200;
    }
    close $s;
    return $ok;
}

{
    my $t = LFTest->new(conf => { workers => 4, states => 8, clones => 4, status_path => '/status',
                                  shared => \'{ counters = "64k" }' },
                        scripts => { 'a.lua' => $counter, 'b.lua' => $counter,
                                     'read.lua' => "local d = require('luafcgid').shared.counters\n"
                                                 . "function main(env, req) req:puts(d:get('hits')) end\n" });
    $t->start;
    my @done = LFTest::run_clients(4, 300, sub {
        my ($c) = @_;
        return requests($t, 'a.lua', 1250) + requests($t, $c % 2 ? 'b.lua' : 'a.lua', 1250);
    });
    my $answered = 0;
    $answered += $_ // 0 for @done;
    is($answered, 10000, '4 clients x 2,500 requests answered');
    is($t->get('read.lua')->{body}, '10000', 'incr from two scripts and their clones: exactly 10,000');
    my $json = $t->get('/status', SCRIPT_NAME => '/status', QUERY_STRING => 'json')->{body};
    my @states = $json =~ /"path":"[^"]*\/[ab]\.lua","states":(\d+)/g;
    ok((grep { $_ > 1 } @states), "run in clones (states per script: @states)");
    $t->stop;
}

# the same on the daemon built with ThreadSanitizer: any report fails
SKIP: {
    my $tsan = $ENV{LUAFCGID_TSAN};
    skip 'no ThreadSanitizer build (LUAFCGID_TSAN)', 2 unless $tsan && -x $tsan;
    local $ENV{LUAFCGID} = $tsan;
    my $t = LFTest->new(conf => { workers => 4, states => 8, clones => 4, shared => \'{ counters = "64k" }' },
                        scripts => { 'a.lua' => $counter, 'b.lua' => $counter,
                                     'read.lua' => "local d = require('luafcgid').shared.counters\n"
                                                 . "function main(env, req) req:puts(d:get('hits')) end\n" });
    my $reports = $t->dir . '/tsan';
    local $ENV{TSAN_OPTIONS} = "halt_on_error=0 log_path=$reports suppressions=" . LFTest::top() . "/tests/tsan.supp";
    $t->start;
    LFTest::run_clients(4, 300, sub { requests($t, 'a.lua', 125) + requests($t, $_[0] % 2 ? 'b.lua' : 'a.lua', 125) });
    is($t->get('read.lua')->{body}, '1000', 'under ThreadSanitizer: 4 x 250 incr count 1,000');
    $t->stop;
    my @found = glob("$reports*");
    is(scalar @found, 0, 'and it reports nothing') or diag slurp($found[0]);
}

# ---- 100 MB into 1 MiB -------------------------------------------------

my $fill = <<'LUA';
local d = require("luafcgid").shared.lru
local v = string.rep("x", 1000)
function main(env, req)
  local q = env.QUERY_STRING
  if q == "start" then
    d:set("cold", "c")
    d:set("hot", "h")
  elseif q:match("^fill=") then
    local base = tonumber(q:match("=(%d+)"))
    for i = base, base + 999 do
      d:set("k" .. i, v)
      if i % 100 == 0 then d:get("hot") end     -- used often: never the least recent
    end
  elseif q == "check" then
    local keys = #d:get_keys(0)
    req:puts(tostring(d:get("hot")), " ", tostring(d:get("cold")), " ", tostring(d:get("k99999") ~= nil), " ",
             tostring(d:get("k0") ~= nil), " ", keys)
  end
end
LUA

sub rss {
    my ($pid) = @_;
    my $s = slurp("/proc/$pid/status");
    my ($rss) = $s =~ /^VmRSS:\s+(\d+) kB/m;
    my ($shm) = $s =~ /^RssShmem:\s+(\d+) kB/m;
    return ($rss // 0, $shm // 0);
}

SKIP: {
    skip 'needs /proc', 7 unless -r "/proc/$$/status";
    my $t = LFTest->new(conf => { workers => 1, status_path => '/status', shared => \'{ lru = "1m" }' },
                        scripts => { 'fill.lua' => $fill });
    $t->start;
    $t->get('fill.lua', QUERY_STRING => 'start');
    $t->get('fill.lua', QUERY_STRING => "fill=" . ($_ * 1000)) for 0 .. 4;   # warm up: the dictionary full
    my $pid = LFTest::serving_pid($t);
    my ($rss0, $shm0) = rss($pid);
    my $bad = 0;
    for my $i (5 .. 99) {
        $bad++ if $t->get('fill.lua', QUERY_STRING => "fill=" . ($i * 1000))->{status} != 200;
    }
    is($bad, 0, '100 MB of writes (100,000 values of 1000 bytes) into a 1 MiB dictionary');
    my ($rss1, $shm1) = rss($pid);
    cmp_ok($shm1, '<=', 1024 + 64, "the serving process's shared memory stays within the size ($shm1 kB)");
    cmp_ok($rss1 - $rss0, '<', 4096, "its RSS grows by less than 4 MiB ($rss0 kB -> $rss1 kB)");
    my ($hot, $cold, $newest, $oldest, $keys) = split ' ', $t->get('fill.lua', QUERY_STRING => 'check')->{body};
    is("$hot $newest", 'h true', 'the most recently used are kept (a key read often, the last written)');
    is("$cold $oldest", 'nil false', 'the least recently used went first');
    cmp_ok($keys, '>', 500, "and the dictionary is full, not emptied ($keys keys)");
    my $json = $t->get('/status', SCRIPT_NAME => '/status', QUERY_STRING => 'json')->{body};
    my ($ev) = $json =~ /"name":"lru".*?"evictions":(\d+)/;
    cmp_ok($ev // 0, '>', 98000, 'the status page counts the evictions');
    $t->stop;
}

done_testing();
