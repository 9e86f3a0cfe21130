# A key's pool keeps at most its size idle, as ngx_lua's: the size given
# to setkeepalive, else connect's pool_size option, else the config's
# socket_pool_size. Five connections to redis put back at once through a
# pool of 2 (or 3) leave 2 (or 3) idle, the rest closed: redis sees no
# more, and the status page says so. A HUP that lowers socket_pool_max
# closes the oldest past it.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFTest qw(wait_for);
use LFNet;

plan skip_all => 'redis-server is not installed (tools/deps --test)' unless -x '/usr/bin/redis-server';

my %conf = (workers => 2, timeout => 5, socket_pool_size => 3, status_path => '/status', sweep => 200);
my $t = LFTest->new(conf => \%conf);
my $redis = LFNet::redis($t->dir);
my $port = $redis->{port};
$t->script('five.lua', <<"LUA");
local lf = require "luafcgid"
function main(env, req)
  local how = env.QUERY_STRING
  local socks = {}
  for i = 1, 5 do
    local s = lf.socket.tcp()
    local opts = { pool = how }
    if how == "connect-opt" then opts.pool_size = 2 end
    assert(s:connect("127.0.0.1", $port, opts))
    socks[i] = s
  end
  for _, s in ipairs(socks) do
    if how == "keepalive-arg" then req:puts(s:setkeepalive(10000, 2), " ")
    else req:puts(s:setkeepalive(10000), " ") end
  end
end
LUA
$t->start;

sub idle_of {
    my ($key) = @_;
    my $st = $t->get('/status', SCRIPT_NAME => '/status', QUERY_STRING => 'json')->{body};
    return $st =~ /"key":"\Q$key\E","idle":(\d+)/ ? $1 : -1;
}
sub clients_of_redis { scalar grep { !/\bcmd=client/ } LFNet::redis_cli($redis, 'CLIENT', 'LIST') }

my %want = ('keepalive-arg' => 2, 'connect-opt' => 2, 'config' => 3);
my $total = 0;
for my $how ('keepalive-arg', 'connect-opt', 'config') {
    is($t->get('five.lua', QUERY_STRING => $how)->{body}, '1 1 1 1 1 ', "$how: five setkeepalive calls answer 1");
    is(idle_of($how), $want{$how}, "$how: the pool keeps $want{$how} of them idle");
    $total += $want{$how};
    ok(wait_for(sub { clients_of_redis() == $total }, 5), "$how: the others are closed (redis sees $total)")
        or diag 'redis sees ' . clients_of_redis();
}
# A HUP that lowers socket_pool_max: the housekeeper closes the oldest
# kept connections past it, not only one a put.
$t->write_conf(%conf, socket_pool_max => 2);
$t->signal('HUP');
ok($t->wait_log(qr/reloaded/), 'HUP: socket_pool_max 2');
ok(wait_for(sub { clients_of_redis() == 2 }, 5), "the $total kept connections fall to 2")
    or diag 'redis sees ' . clients_of_redis();
$t->stop;
LFNet::stop($redis);
done_testing;
