# Debian's lua-nginx-redis and lua-nginx-memcached run unchanged on
# ngx.socket (the luafcgid module's socket, the same object) against a
# real redis-server and memcached: commands, errors, pipelines, pub/sub,
# set_keepalive and the pool's reuse across requests.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFTest;
use LFNet;

plan skip_all => 'redis-server and memcached are not installed (tools/deps --test)'
    unless -x '/usr/bin/redis-server' && -x '/usr/bin/memcached';

my $t = LFTest->new(conf => { workers => 2, timeout => 5 });
my $lib = LFNet::resty_libs($t->dir);
my $redis = LFNet::redis($t->dir);
my $mc = LFNet::memcached($t->dir);

# The libraries read ngx.socket.tcp and ngx.null when they load: the
# script gives them those of the luafcgid module when ngx is not there.
my $head = <<"LUA";
package.path = "$lib/?.lua;" .. package.path
local lf = require "luafcgid"
if not ngx then
  ngx = { socket = lf.socket, thread = lf.thread, null = lf.null or false,
          escape_uri = lf.urlencode, unescape_uri = lf.urldecode }
end
local redis = require "nginx.redis"
local memcached = require "nginx.memcached"
local RPORT, MPORT = $redis->{port}, $mc->{port}
local function show(...)
  local out = {}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    if type(v) == "table" then
      local parts = {}
      for j = 1, #v do parts[j] = tostring(v[j]) end
      out[i] = "{" .. table.concat(parts, ",") .. "}"
    else out[i] = tostring(v) end
  end
  return table.concat(out, " ")
end
LUA

$t->script('redis.lua', $head . <<'LUA');
function main(env, req)
  req:header("Content-Type", "text/plain")
  local red = redis:new()
  red:set_timeout(2000)
  local ok, err = red:connect("127.0.0.1", RPORT)
  if not ok then req:puts("connect failed: ", err) return end
  local q = env.QUERY_STRING
  if q == "commands" then
    red:del("k", "h", "n")
    req:puts(show(red:set("k", "v")), "\n")
    req:puts(show(red:get("k")), "\n")
    req:puts(show(red:incr("n")), " ", show(red:incrby("n", 41)), "\n")
    req:puts(show(red:hmset("h", "a", "1", "b", "2")), " ", show(red:hget("h", "b")), "\n")
    req:puts(show(red:get("nosuch") == ngx.null), "\n")
    req:puts(show(red:hget("k", "x")), "\n")         -- WRONGTYPE
    req:puts(show(red:lrange("nosuchlist", 0, -1)), "\n")
  elseif q == "pipeline" then
    red:init_pipeline()
    red:set("p1", "one")
    red:incr("pn")
    red:get("p1")
    red:hget("p1", "x")
    local res, err = red:commit_pipeline()
    for i, r in ipairs(res) do
      if type(r) == "table" then req:puts(i, " ", show(r[1], r[2]), "\n") else req:puts(i, " ", show(r), "\n") end
    end
  elseif q == "pubsub" then
    local pub = redis:new()
    pub:connect("127.0.0.1", RPORT)
    req:puts(show(red:subscribe("chan")), "\n")
    req:puts(show(pub:publish("chan", "hello")), "\n")
    req:puts(show(red:read_reply()), "\n")
    red:set_timeout(100)
    req:puts(show(red:read_reply()), "\n")                       -- nothing more: a timeout
    pub:set_keepalive()
    red:close()
    return
  elseif q == "reuse" then
    req:puts(red:get_reused_times())
  end
  req:puts("keepalive ", show(red:set_keepalive(10000, 8)), "\n")
end
LUA

$t->script('memcached.lua', $head . <<'LUA');
function main(env, req)
  req:header("Content-Type", "text/plain")
  local mc = memcached:new()
  mc:set_timeout(2000)
  local ok, err = mc:connect("127.0.0.1", MPORT)
  if not ok then req:puts("connect failed: ", err) return end
  if env.QUERY_STRING == "reuse" then
    req:puts(mc:get_reused_times())
  else
    mc:flush_all()
    req:puts(show(mc:set("dog", 32)), "\n")
    req:puts(show(mc:get("dog")), "\n")
    req:puts(show(mc:add("dog", 1)), "\n")
    req:puts(show(mc:incr("dog", 10)), "\n")
    req:puts(show(mc:delete("dog")), " ", show(mc:get("dog")), "\n")
    req:puts(show(mc:set("big", string.rep("z", 100000))), " ", #mc:get("big"), "\n")
  end
  req:puts("keepalive ", show(mc:set_keepalive(10000, 8)), "\n")
end
LUA
$t->start;

my $b = $t->get('redis.lua', QUERY_STRING => 'commands')->{body};
is($b, "OK\nv\n1 42\nOK 2\ntrue\nfalse WRONGTYPE Operation against a key holding the wrong kind of value\n{}\n"
     . "keepalive 1\n", 'redis: commands, a nil reply, an error reply, an empty list') or diag $t->log;

$b = $t->get('redis.lua', QUERY_STRING => 'pipeline')->{body};
is($b, "1 OK\n2 1\n3 one\n4 false WRONGTYPE Operation against a key holding the wrong kind of value\n"
     . "keepalive 1\n", 'redis: a pipeline, its error in its place');

$b = $t->get('redis.lua', QUERY_STRING => 'pubsub')->{body};
is($b, "{subscribe,chan,1}\n1\n{message,chan,hello} nil\nnil timeout\n", 'redis: pub/sub, and a read that times out');

my @reused = map { $t->get('redis.lua', QUERY_STRING => 'reuse')->{body} } 1 .. 6;
my ($first) = $reused[0] =~ /^(\d+)/;
my ($last) = $reused[-1] =~ /^(\d+)/;
ok(defined $first && defined $last && $last > $first, "getreusedtimes climbs: @reused");

$b = $t->get('memcached.lua')->{body};
is($b, "1\n32 0\nnil NOT_STORED\n42\n1 nil nil nil\n1 100000\nkeepalive 1\n",
   'memcached: set, get, add, incr, delete, a 100 kB value') or diag $t->log;
my @m = map { ($t->get('memcached.lua', QUERY_STRING => 'reuse')->{body} =~ /^(\d+)/)[0] // -1 } 1 .. 4;
ok($m[-1] > $m[0], "memcached connections are reused too: @m");

unlike($t->log, qr/\[(error|crit)\]/, 'nothing went wrong in the log');
$t->stop;
LFNet::stop($redis);
LFNet::stop($mc);
done_testing;
