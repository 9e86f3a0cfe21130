# Shared dictionaries from the config to the script: `shared` checked by
# -t (sizes, names, types), require("luafcgid").shared.NAME with every
# state seeing one dictionary, bad input from a script answered as
# OpenResty does with nothing else lost, and the figures on the status
# page in every format.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFTest qw(slurp);

# -t on a config with this `shared`: (exit status, what it printed)
sub check_conf {
    my ($shared) = @_;
    my $t = LFTest->new(conf => { shared => \$shared });
    my $out = `'${\ LFTest::binary()}' -t '${\ $t->conf_path}' 2>&1`;
    return ($? >> 8, $out);
}

{
    my ($rc, $out) = check_conf('{ cache = "16m", counters = 65536, big = "1g", ["a.b-c_d"] = "64K" }');
    is($rc, 0, '-t accepts sizes in bytes, k, m, g') or diag $out;
    for my $bad (
        [ '{ cache = "12q" }', qr/key 'shared': dictionary 'cache': '12q' is not a size/, 'a size that is not a size' ],
        [ '{ cache = "" }', qr/'' is not a size/, 'an empty size' ],
        [ '{ cache = 1.5 }', qr/1\.5 is not a size in bytes/, 'a fraction of a byte' ],
        [ '{ cache = "1k" }', qr/1024 bytes is too small \(at least 16k\)/, 'too small' ],
        [ '{ cache = "17g" }', qr/too large \(at most 16g\)/, 'too large' ],
        [ '{ cache = {} }', qr/the size must be bytes or a string such as "16m", not a table/, 'a table for a size' ],
        [ '{ ["bad name!"] = "1m" }', qr/'bad name!' is not a dictionary name/, 'a name that is not a name' ],
        [ '{ ["1st"] = "1m" }', qr/'1st' is not a dictionary name/, 'a name that starts with a digit' ],
        [ '{ "cache" }', qr/a key that is a number is not a name/, 'a list instead of NAME = SIZE' ],
        [ '"16m"', qr/key 'shared': must be a table such as \{ cache = "16m" \}, not a string/, 'not a table' ],
    ) {
        my ($rc2, $out2) = check_conf($bad->[0]);
        ok($rc2 == 1 && $out2 =~ $bad->[1], "-t refuses $bad->[2]") or diag $out2;
    }
}

my $api = <<'LUA';
local lf = require "luafcgid"
local d = lf.shared.cache
function main(env, req)
  req:header("Content-Type", "text/plain")
  local q = env.QUERY_STRING
  if q == "write" then
    for i = 1, 100 do d:set("k" .. i, "value " .. i) end
    req:puts((d:incr("writes", 1, 0)))
  elseif q == "bad" then
    local out = {}
    local function add(...) local t = { ... } for i = 1, select('#', ...) do t[i] = tostring(t[i]) end out[#out + 1] = table.concat(t, " ") end
    add(d:set("t", {}))
    add(d:set("f", print))
    add(d:add("t", function() end))
    add(d:lpush("l", {}))
    add(d:set(string.rep("k", 65536), "v"))
    add(d:get(string.rep("k", 65536)))
    add(d:incr(string.rep("k", 65536), 1, 0))
    add(pcall(d.set, d, "e", "v", -1))
    add(pcall(d.get, "not a dictionary"))
    add(pcall(d.get, { io.stdout }, "k"))
    add(lf.shared.missing)
    req:puts(table.concat(out, "\n"), "\n")
  elseif q == "read" then
    local ok = 0
    for i = 1, 100 do if d:get("k" .. i) == "value " .. i then ok = ok + 1 end end
    req:puts(ok)
  elseif q == "same" then
    req:puts(tostring(require("luafcgid").shared == lf.shared), " ", tostring(lf.shared.cache == d), " ",
             tostring(req:config("shared").cache))
  end
end
LUA

my $t = LFTest->new(conf => { workers => 2, status_path => '/status', shared => \'{ cache = "1m", small = "64k" }' },
                    scripts => { 'api.lua' => $api, 'other.lua' => "local d = require('luafcgid').shared.cache\n"
                                 . "function main(env, req) req:puts(d:incr('writes', 0) or 'none') end\n" });
$t->start;
is($t->get('api.lua', QUERY_STRING => 'write')->{body}, '1', 'a script writes to a dictionary');
is($t->get('other.lua')->{body}, '1', 'another script reads what it wrote');
is($t->get('api.lua', QUERY_STRING => 'same')->{body}, 'true true 1048576',
   'require("luafcgid").shared is one table per state; req:config("shared") gives the sizes');
my $bad = $t->get('api.lua', QUERY_STRING => 'bad');
is($bad->{status}, 200, 'bad input is answered, not a 500') or diag $bad->{body};
is($bad->{body}, join("\n",
    'nil bad value type',
    'nil bad value type',
    'nil bad value type',
    'nil bad value type',
    'nil key too long',
    'nil key too long',
    'nil key too long',
    'false bad "exptime" argument',
    'false bad "zone" argument',
    'false bad "zone" argument',
    'nil') . "\n", "tables, functions, a key over 64 KiB, a bad self: OpenResty's answers");
is($t->get('api.lua', QUERY_STRING => 'read')->{body}, '100', 'and nothing else was lost');

# the status page, every format
$t->get('api.lua', QUERY_STRING => 'write');
my %status = map { $_ => $t->get('/status', SCRIPT_NAME => '/status', QUERY_STRING => $_)->{body} } ('', qw(json xml html openmetrics));
like($status{''}, qr/name:\s+cache\ncapacity:\s+1048576\nfree space:\s+\d+\nentries:\s+101\nevictions:\s+0\nexpirations:\s+0\nflushed:\s+0\nrepairs:\s+0\n/,
     'status (text): capacity, free space, entries, evictions, expirations, flushed');
like($status{json}, qr/"shared":\[\{"name":"cache","capacity":1048576,"free space":\d+,"entries":101,"evictions":0,"expirations":0,"flushed":0,"repairs":0\},\{"name":"small"/,
     'status (JSON)');
like($status{xml}, qr{<shared>\n<dictionary>\n<name>cache</name>\n<capacity>1048576</capacity>\n<free-space>\d+</free-space>\n<entries>101</entries>},
     'status (XML)');
like($status{html}, qr{<tr><th>name</th><td>cache</td></tr>\n<tr><th>capacity</th><td>1048576</td></tr>}, 'status (HTML)');
like($status{openmetrics}, qr/^luafcgid_shared_capacity_bytes\{dict="cache"\} 1048576$/m, 'OpenMetrics: capacity');
like($status{openmetrics}, qr/^luafcgid_shared_entries\{dict="cache"\} 101$/m, 'OpenMetrics: entries');
like($status{openmetrics}, qr/^# TYPE luafcgid_shared_evictions counter\n# HELP [^\n]+\nluafcgid_shared_evictions_total\{dict="cache"\} 0$/m,
     'OpenMetrics: evictions, a counter family');
like($status{openmetrics}, qr/^luafcgid_shared_expirations_total\{dict="small"\} 0$/m, 'OpenMetrics: expirations, per dictionary');
SKIP: {
    skip 'python3-prometheus-client is not installed', 1
        unless system('python3 -c "import prometheus_client" 2>/dev/null') == 0;
    my $f = $t->dir . '/metrics.txt';
    LFTest::spew($f, $status{openmetrics});
    my $out = `python3 -c 'import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families as p
n = [s for f in p(open(sys.argv[1]).read()) for s in f.samples if s.name.startswith("luafcgid_shared")]
print(len(n))' '$f' 2>&1`;
    is($out, "14\n", 'the page parses as OpenMetrics, with the shared families') or diag $out;
}
$t->stop;
done_testing();
