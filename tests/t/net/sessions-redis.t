# luafcgid.session with storage = "redis://host:port/db": two daemons
# behind one nginx upstream share the sessions through a real redis, the
# connections pooled; regenerate and destroy remove the data from redis;
# a redis that is gone is an error that names it, within its timeout.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use Time::HiRes qw(time);
use LFTest qw(spew http_get);
use LFNet;

plan skip_all => 'redis-server is not installed (tools/deps --test)' unless -x '/usr/bin/redis-server';

my $a = LFTest->new(conf => { workers => 2, status_path => '/status' });
my $b = LFTest->new(conf => { workers => 2 });
my $redis = LFNet::redis($a->dir);
my $key = $a->dir . '/session.key';
spew($key, "a secret shared by both hosts, more than thirty-two bytes\n");
chmod 0600, $key;

my $script = <<"LUA";
local session = require "luafcgid.session"
local lf = require "luafcgid"
function main(env, req)
  local q = lf.parse(env.QUERY_STRING)
  local s, exists = session.start(req, { secret_file = "$key", storage = q.storage or "redis://127.0.0.1:$redis->{port}/3" })
  req:header("Content-Type", "text/plain")
  if q.op == "set" then s:set("user", q.v); s:set("n", (s:get("n") or 0) + 1); s:save()
  elseif q.op == "regenerate" then s:regenerate()
  elseif q.op == "destroy" then s:destroy() end
  req:puts(req:config("pidfile"), " ", tostring(exists), " ", tostring(s:get("user")), " ", tostring(s:get("n")))
end
LUA
$a->script('s.lua', $script);
$a->start;
$b->start;
my $port = $a->start_nginx(servers => [ 'unix:' . $a->listen_addr, 'unix:' . $b->listen_addr ]);

my $cookie;
sub get {
    my ($q) = @_;
    my $r = http_get($a->nginx_url("/s.lua?$q"), headers => { defined $cookie ? (Cookie => "session=$cookie") : () });
    my $set = $r->{headers}{'set-cookie'};
    $cookie = $1 if defined $set && $set =~ /^session=([^;]*)/;
    my ($host, $rest) = $r->{content} =~ m{^(\S+)/lf\.pid (.*)$};
    return ($r->{status} == 200 ? $rest // $r->{content} : "HTTP $r->{status}: $r->{content}", $host);
}

my ($body, $host) = get('op=set&v=ann');
is($body, 'false ann 1', 'a session starts, kept in redis');
my %hosts;
for my $i (1 .. 8) {
    ($body, $host) = get('');
    $hosts{$host // '?'}++;
    is($body, 'true ann 1', "request $i sees it") or last;
}
is(scalar(keys %hosts), 2, 'both hosts served it: ' . join(', ', map { "$_: $hosts{$_}" } sort keys %hosts));
($body) = get('op=set&v=bob');
is($body, 'true bob 2', 'one host changes it');
is((get(''))[0], 'true bob 2', 'the other sees the change');
# redis-cli (redis-tools, which redis-server brings) in db N: its lines
sub cli { my ($db, @args) = @_; my @l = split /\n/, `redis-cli -p $redis->{port} -n $db --raw @args 2>/dev/null`; @l }
is(scalar(cli(0, 'KEYS', "'*'")), 0, 'nothing in db 0');
my @in3 = cli(3, 'KEYS', "'luafcgid.session:*'");
is(scalar @in3, 1, 'one session in db 3');
my ($ttl) = cli(3, 'TTL', "'$in3[0]'");
ok(defined $ttl && $ttl > 800 && $ttl <= 900, 'with the idle timeout as its TTL (' . ($ttl // 'none') . ')');

($body) = get('op=regenerate');
is($body, 'true bob 2', 'regenerate keeps the data under a new id');
my @now = cli(3, 'KEYS', "'luafcgid.session:*'");
ok(@now == 1 && $now[0] ne $in3[0], 'the old id is gone from redis');
($body) = get('op=destroy');
is((get(''))[0], 'false nil nil', 'destroy ends it everywhere');
is((cli(3, 'DBSIZE'))[0], 0, 'and redis holds nothing more');

my $status = $a->get('/status', SCRIPT_NAME => '/status')->{body};
like($status, qr/key:\s+luafcgid\.session:127\.0\.0\.1:$redis->{port}\/3\s+idle:\s+[12]\s+in use:\s+0\s+connects:\s+[12]\s+reuses:\s+[1-9]/,
     'the connections are pooled under their own name');

LFNet::stop($redis);
my $t0 = time;
($body) = get('op=set&v=carol');
like($body, qr/^HTTP 500: .*luafcgid\.session: redis 127\.0\.0\.1:$redis->{port}\/3: (connection refused|closed)/s,
     'redis gone: an error that names it');
ok(time - $t0 < 3, sprintf('at once (%.2f s)', time - $t0));

$a->stop_nginx;
$a->stop;
$b->stop;
done_testing;
