# After a serving process dies of a fault (a stray store of a C module may
# have hit a dictionary), the next one checks every dictionary in the
# background, a bucket range a step with pauses between, while it serves:
# the log says each was found sound, every key is still there, and TERM
# stops the process, its check and all.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFTest qw(wait_for);

my $script = <<'LUA';
local d = require("luafcgid").shared.d
function main(env, req)
  local q = env.QUERY_STRING
  if q:match("^fill=") then
    for i = 1, tonumber(q:match("=(%d+)")) do d:set("k" .. i, "v" .. i) end
    req:puts("filled")
  elseif q:match("^check=") then
    local ok = 0
    for i = 1, tonumber(q:match("=(%d+)")) do
      if d:get("k" .. i) == "v" .. i then ok = ok + 1 end
    end
    req:puts(ok)
  end
end
LUA

# 8m: 65536 buckets, so that the check pauses between its steps
my $t = LFTest->new(conf => { workers => 2, shared => \'{ d = "8m" }' }, scripts => { 'd.lua' => $script });
$t->start;
is($t->get('d.lua', QUERY_STRING => 'fill=3000')->{body}, 'filled', '3000 keys stored');
unlike($t->log, qr/checked after a crash/, 'a first start checks nothing');

my $first = LFTest::serving_pid($t);
ok($first, 'a serving process runs');
kill 'SEGV', $first;
ok($t->wait_log(qr/serving process $first died of SIGSEGV/), 'it dies of a fault');
ok($t->wait_log(qr/shared dictionary 'd': checked after a crash, in the background, in \d+ ms: 3000 keys, sound/, 30),
   'the next one checks the dictionary in the background: every key seen, sound');
my $second;
ok(wait_for(sub { $second = LFTest::serving_pid($t, 1); $second && $second != $first }), 'the next one runs');
is($t->get('d.lua', QUERY_STRING => 'check=3000')->{body}, '3000', 'and serves every key');
is($t->stop, 0, 'TERM stops it');
unlike($t->log, qr/cannot start/, 'nothing failed to start');

done_testing();
