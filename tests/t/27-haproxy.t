# Through a real HAProxy (Debian's 2.6) with its own FastCGI client
# (`fcgi-app`), from a private config: `option keep-conn` and `option
# get-values` (HAProxy asks FCGI_GET_VALUES on every new connection and
# waits for the answer), then the same with `option mpxs-conns`, which the
# answer (FCGI_MPXS_CONNS 0) turns off, then `option mpxs-conns` without
# get-values (a second request on a busy connection would get
# FCGI_CANT_MPX_CONN; 28-protocol.t checks that). Each run: GET with a query, POST
# 100 kB, PATH_INFO, a header and a cookie round trip, 404 and 500 pages,
# kept connections, and 200 requests from 8 concurrent clients, every
# answer checked.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use POSIX ();
use IO::Socket::INET;
use LFTest qw(http_get http_post wait_for);

my ($haproxy) = grep { -x } qw(/usr/sbin/haproxy /usr/local/sbin/haproxy);
plan skip_all => 'haproxy is not installed (tools/deps --test installs it)' unless $haproxy;

my $lfport = LFTest::free_port();
my $t = LFTest->new(conf => { workers => 4, keepalive_max => 16, keepalive_timeout => 60,
                              maxpost => 2 * 1024 * 1024, listen => "127.0.0.1:$lfport" });
$t->script('env.lua', "function main(env, req) req:puts(env.REQUEST_METHOD, ' ', env.QUERY_STRING or '', ' ', "
                    . "env.SCRIPT_NAME, ' ', env.PATH_INFO or '-') end\n");
$t->script('post.lua', "function main(env, req) local b = req:gets() or ''\n"
                     . "  req:puts(#b, ' ', b:sub(1, 4), b:sub(-4)) end\n");
$t->script('echo.lua', <<'LUA');
local lf = require "luafcgid"
function main(env, req)
  local c = lf.cookies(env.HTTP_COOKIE)
  req:header('X-Echo', env.HTTP_X_TEST or '-')
  req:header('Set-Cookie', 'back=' .. (c.sent or '-'))
  req:puts('cookie ', c.sent or '-', ' ', c.other or '-')
end
LUA
$t->script('broken.lua', "function main(env, req) error('nope') end\n");
$t->script('id.lua', "function main(env, req) req:puts('id ', env.QUERY_STRING) end\n");
$t->start;
my $serving = LFTest::serving_pid($t);

# Start HAProxy with OPTIONS in its fcgi-app; returns (pid, port).
sub start_haproxy {
    my ($name, @options) = @_;
    my $dir = $t->dir . "/haproxy-$name";
    mkdir $dir;
    my $port = LFTest::free_port();
    my $opts = join '', map { "    option $_\n" } @options;
    my $www = $t->www;
    LFTest::spew("$dir/haproxy.cfg", <<"CFG");
global
    log stderr format raw local0 warning
defaults
    mode http
    log global
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend web
    bind 127.0.0.1:$port
    default_backend luafcgid
fcgi-app luafcgid
    docroot $www
    index index.lua
    path-info ^(/.+\\.lua)(/.*)?\$
$opts
backend luafcgid
    use-fcgi-app luafcgid
    http-reuse always
    server lf 127.0.0.1:$lfport proto fcgi
CFG
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open(STDOUT, '>>', "$dir/stderr.log");
        open(STDERR, '>>', "$dir/stderr.log");
        exec($haproxy, '-db', '-f', "$dir/haproxy.cfg") or POSIX::_exit(127);
    }
    LFTest::track($pid, 'haproxy');
    my $up = wait_for(sub {
        return 1 if IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp');
        return -1 if waitpid($pid, POSIX::WNOHANG()) == $pid;
        return 0;
    }, 15);
    die "haproxy did not start:\n" . LFTest::slurp("$dir/stderr.log") unless $up && $up == 1;
    return ($pid, $port, $dir);
}

# Established TCP connections to luafcgid's port, from /proc/net/tcp.
sub connections_to_luafcgid {
    my $hex = sprintf('%04X', $lfport);
    my $n = 0;
    for my $line (split /\n/, LFTest::slurp('/proc/net/tcp')) {
        my @f = split ' ', $line;
        $n++ if @f > 3 && $f[2] =~ /:$hex$/ && $f[3] eq '01';
    }
    return $n;
}

for my $run (['get-values', 'keep-conn', 'get-values'],
             ['mpxs-conns', 'keep-conn', 'get-values', 'mpxs-conns'],
             ['mpxs-conns-alone', 'keep-conn', 'mpxs-conns']) {
    my ($name, @options) = @$run;
    my ($pid, $port, $dir) = start_haproxy($name, @options);
    my $url = sub { "http://127.0.0.1:$port$_[0]" };

    my $r = http_get($url->('/env.lua?a=1&b=two'));
    is("$r->{status} $r->{content}", '200 GET a=1&b=two /env.lua -', "$name: GET with a query");
    my $body = join('', map { chr(65 + $_ % 26) } 0 .. 102_399);
    $r = http_post($url->('/post.lua'), $body);
    is("$r->{status} $r->{content}", '200 102400 ABCDIJKL', "$name: POST 100 kB, read whole");
    $r = http_get($url->('/env.lua/extra/path'));
    is("$r->{status} $r->{content}", '200 GET  /env.lua /extra/path', "$name: PATH_INFO");
    $r = http_get($url->('/echo.lua'), headers => { 'X-Test' => 'hdr-42', Cookie => 'other=o;sent=c%20x' });
    is("$r->{status} $r->{content}", '200 cookie c x o', "$name: a cookie reaches the script");
    is($r->{headers}{'x-echo'}, 'hdr-42', "$name: a request header reaches the script and an answer header comes back");
    is($r->{headers}{'set-cookie'}, 'back=c x', "$name: a cookie is set back");
    $r = http_get($url->('/missing.lua'));
    is($r->{status}, 404, "$name: a missing script is a 404");
    $r = http_get($url->('/broken.lua'));
    is($r->{status}, 500, "$name: a failing script is a 500");
    like($r->{content}, qr/nope/, "$name: with its error");

    # kept connections: sequential requests reuse a few connections
    my $ok = grep { http_get($url->("/id.lua?seq$_"))->{content} eq "id seq$_" } 1 .. 30;
    is($ok, 30, "$name: 30 sequential requests answered");
    my $kept = connections_to_luafcgid();
    ok($kept >= 1 && $kept <= 8, "$name: HAProxy keeps its connections to luafcgid ($kept open)");

    # 200 requests from 8 concurrent clients, every answer checked
    my $c = LFTest::start_clients(8, sub {
        my ($k) = @_;
        my $good = 0;
        for my $i (1 .. 25) {
            my $q = "c${k}r$i";
            my $res = $i % 5 == 0 ? http_post($url->("/post.lua"), "$q" x 1000)
                                  : http_get($url->("/id.lua?$q"));
            my $want = $i % 5 == 0 ? length("$q" x 1000) . ' ' . substr($q x 2, 0, 4) . substr($q x 2, -4)
                                   : "id $q";
            $good++ if $res->{status} == 200 && $res->{content} eq $want;
        }
        return $good;
    });
    my @good = LFTest::wait_clients($c, 120);
    my $sum = 0;
    $sum += $_ for grep { $_ > 0 } @good;
    is($sum, 200, "$name: 200 requests from 8 concurrent clients, every answer right");
    is(LFTest::serving_pid($t), $serving, "$name: the serving process is the same");
    LFTest::stop_pid($pid, 'TERM', 10);
    LFTest::untrack($pid);
    unlike(LFTest::slurp("$dir/stderr.log"), qr/\b(?:Server .* is DOWN|FCGI.*error)/i, "$name: HAProxy logged no FastCGI error");
}
unlike($t->log, qr/out of sequence|died of/, 'luafcgid refused no record');
is($t->stop, 0, 'stop');
done_testing();
