# The handler's env: filled from the request's parameters as it is read
# (reqenv.c), yet to the script the same table an eager one was: every
# field, pairs() listing them all, the last of a name sent twice, what the
# script set kept, and a table that outlives its request. pairs() honours
# __pairs on any table, as Lua 5.2's does. Of a name sent twice the last
# wins everywhere, as in php-fpm: the script served (a fastcgi_param
# SCRIPT_FILENAME after nginx's own overrides it), ngx.var, and the env.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFTest;

my $t = LFTest->new(conf => { workers => 1 });
$t->script('fields.lua', <<'LUA');
function main(env, req)
  req:puts(env.QUERY_STRING, "|", tostring(env.NOT_SENT), "|", env.LUAFCGID_VERSION, "|", env.X_TWICE or "nil")
end
LUA
$t->script('all.lua', <<'LUA');
function main(env, req)
  local read = env.X_TWICE                -- read first, then listed
  env.MINE = "set by the script"
  env.REMOTE_ADDR = "changed"
  local keys = {}
  for k, v in pairs(env) do keys[#keys + 1] = k .. "=" .. v end
  table.sort(keys)
  req:puts(table.concat(keys, "\n"), "\n", "read=", read, "\n")
end
LUA
$t->script('which.lua', <<'LUA');
function main(env, req)
  req:puts("which.lua ", env.SCRIPT_FILENAME:match("[^/]*$"), " ", tostring(ngx.var.x_twice),
           " ", tostring(ngx.var.script_filename):match("[^/]*$"))
end
LUA
$t->script('keep.lua', <<'LUA');
function main(env, req)
  first = first or env              -- a table kept past its request
  req:puts(first.QUERY_STRING, " ", env.QUERY_STRING)
end
LUA
$t->script('pairs.lua', <<'LUA');
function main(env, req)
  local proxy = setmetatable({}, { __pairs = function(t) return next, { a = 1, b = 2 }, nil end })
  local n = 0
  for k, v in pairs(proxy) do n = n + v end
  local plain = 0
  for k, v in pairs({ x = 1, y = 2, z = 3 }) do plain = plain + v end
  local ok, err = pcall(pairs, 42)
  req:puts(n, " ", plain, " ", tostring(ok), " ", err:match("table expected") and "table expected" or err)
end
LUA
$t->start;

my $r = $t->get('fields.lua', QUERY_STRING => 'q=1');
is($r->{body}, "q=1|nil|1.0.0|nil", 'a field read comes from the request; one not sent is nil; LUAFCGID_VERSION is there');

# a name sent twice: the last one, as an eager table held it
sub twice {
    my ($script, @more) = @_;
    my $p = '';
    for my $kv ([SCRIPT_FILENAME => $t->www . "/$script"], [REQUEST_METHOD => 'GET'], [QUERY_STRING => ''],
                [REMOTE_ADDR => '127.0.0.1'], [X_TWICE => 'first'], [X_TWICE => 'last'], @more) {
        $p .= LFTest::nv_len($kv->[0]) . LFTest::nv_len($kv->[1]) . $kv->[0] . $kv->[1];
    }
    my $s = $t->connect or die "connect: $!";
    LFTest::write_all($s, LFTest::record(1, 1, pack('nCx5', 1, 0)) . LFTest::stream(4, 1, $p) . LFTest::stream(5, 1, ''));
    my $res = LFTest::read_response($s);
    close $s;
    return $res;
}
is(twice('fields.lua')->{body}, '|nil|1.0.0|last', 'a name sent twice reads as the last');

$r = twice('all.lua');
my %env = map { split /=/, $_, 2 } grep { /=/ && !/^read=/ } split /\n/, $r->{body};
is($env{X_TWICE}, 'last', 'pairs lists the last of a name sent twice');
is($env{MINE}, 'set by the script', 'pairs keeps a field the script added');
is($env{REMOTE_ADDR}, 'changed', 'pairs keeps a field the script changed, not the value received');
is($env{REQUEST_METHOD}, 'GET', 'pairs lists a field never read');
is($env{LUAFCGID_VERSION}, '1.0.0', 'pairs lists LUAFCGID_VERSION');
is($env{SCRIPT_FILENAME}, $t->www . '/all.lua', 'pairs lists SCRIPT_FILENAME');
like($r->{body}, qr/^read=last$/m, 'a field read before pairs is the same');

is(twice('fields.lua', [SCRIPT_FILENAME => $t->www . '/which.lua'])->{body}, 'which.lua which.lua last which.lua',
   'SCRIPT_FILENAME sent twice: the last is served; ngx.var has the last of a name too');

# the override nginx users write: a SCRIPT_FILENAME after the one of the
# usual parameters (fastcgi.conf's) serves the script it names
SKIP: {
    skip 'nginx is not installed', 1 unless -x LFTest::nginx_binary();
    $t->start_nginx(fastcgi => 'fastcgi_param SCRIPT_FILENAME ' . $t->www . '/which.lua;');
    my $res = LFTest::http_get($t->nginx_url('/fields.lua'));
    is($res->{content}, 'which.lua which.lua nil which.lua', 'behind nginx, the later fastcgi_param wins');
    $t->stop_nginx;
}

is($t->get('keep.lua', QUERY_STRING => 'one')->{body}, 'one one', 'env, first request');
is($t->get('keep.lua', QUERY_STRING => 'two')->{body}, 'one two',
   "a request's env kept past it still reads that request's fields");

is($t->get('pairs.lua')->{body}, '3 6 false table expected',
   'pairs honours __pairs, walks a plain table, and refuses what is no table');

is($t->stop, 0, 'stops');
done_testing;
