# Through a real nginx started from a private config.
# one build: what the web server sends and how it keeps its connections, answered by the FastCGI layer in C: the Lua build changes none of it
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFTest qw(http_get http_post wait_for);

plan skip_all => 'nginx is not installed' unless -x LFTest::nginx_binary() || `which nginx 2>/dev/null`;

my $t = LFTest->new(conf => { workers => 4, maxpost => 2 * 1024 * 1024 });
$t->script('hello.lua', "hits = 0\nfunction main(env, req) hits = hits + 1 req:header('Content-Type', 'text/plain') req:puts('hello #', hits) end\n");
$t->script('env.lua', "function main(env, req) req:puts(env.REQUEST_METHOD, ' ', env.QUERY_STRING, ' ', env.SCRIPT_NAME, ' ', env.REMOTE_ADDR, ' ', env.PATH_INFO or '') end\n");
$t->script('post.lua', <<'LUA');
local lf = require "luafcgid"
function main(env, req)
  local body = req:gets() or ""
  local f = lf.parse(body)
  req:puts(#body, " ", f.name or "-")
end
LUA
$t->script('status.lua', "function main(env, req) req:header('Status', '418 I\\'m a teapot') req:header('X-Test', 'yes') req:puts('short and stout') end\n");
$t->script('broken.lua', "function main(env, req) error('nope') end\n");
$t->script('cookies.lua', "local lf = require 'luafcgid'\nfunction main(env, req) local c = lf.cookies(env.HTTP_COOKIE) req:puts(c.a, ',', c.b) end\n");
$t->script('id.lua', "function main(env, req) req:puts(env.QUERY_STRING) end\n");
$t->start;
my $port = $t->start_nginx;

my $r = http_get($t->nginx_url('/hello.lua'));
is($r->{status}, 200, 'hello through nginx: 200');
is($r->{content}, 'hello #1', 'hello through nginx: the body');
is($r->{headers}{'content-type'}, 'text/plain', 'the Content-Type reaches the client');
is($r->{headers}{'x-powered-by'}, 'luafcgid', 'the extra header reaches the client');

$r = http_get($t->nginx_url('/env.lua/extra/path?x=1&y=2'));
is($r->{content}, 'GET x=1&y=2 /env.lua 127.0.0.1 /extra/path', 'the CGI variables nginx sends are in env');

$r = http_post($t->nginx_url('/post.lua'), 'name=lua+user&x=1');
is($r->{content}, '17 lua user', 'a small form POST');
my $big = 'name=big&pad=' . ('a' x (1024 * 1024));
$r = http_post($t->nginx_url('/post.lua'), $big);
is($r->{content}, length($big) . ' big', 'a 1 MiB POST through nginx');

$r = http_get($t->nginx_url('/status.lua'));
is($r->{status}, 418, 'a status set by the script reaches the client');
is($r->{headers}{'x-test'}, 'yes', 'with its headers');
is(http_get($t->nginx_url('/broken.lua'))->{status}, 500, 'a broken script is a 500 through nginx');
is(http_get($t->nginx_url('/missing.lua'))->{status}, 404, 'a missing script is a 404 through nginx');
is(http_get($t->nginx_url('/cookies.lua'), headers => { Cookie => 'a=1; b=two' })->{content}, '1,two',
   'cookies reach the script');

$r = http_get($t->nginx_url('/hello.lua'));
like($r->{content}, qr/^hello #\d+$/, 'still serving');

# concurrency: 16 clients x 25 requests, every answer right
{
    my $clients = 16;
    my $each = 25;
    my @bad = LFTest::run_clients($clients, 60, sub {
        my ($c) = @_;
        my $bad = 0;
        for my $i (1 .. $each) {
            my $q = "c${c}r$i";
            my $res = http_get($t->nginx_url("/id.lua?$q"), timeout => 20);
            $bad++ unless $res->{status} == 200 && $res->{content} eq $q;
        }
        return $bad;
    });
    my $failed = 0;
    $failed += $_ // $each for @bad;
    is($failed, 0, "$clients concurrent clients x $each requests: every answer is the right one");
}

$t->stop_nginx;
is($t->stop, 0, 'stop');
done_testing;
