# TCP listen addresses, directly and through nginx.
# one build: the FastCGI records, connections and dispatch, all in C: the Lua build changes none of it
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFTest qw(http_get free_port);

my $hello = "function main(env, req) req:puts('tcp hello') end\n";

my $port = free_port();
my $t = LFTest->new(conf => { listen => "127.0.0.1:$port" }, scripts => { 'hello.lua' => $hello });
$t->start;
is($t->get('hello.lua')->{body}, 'tcp hello', 'listen = "127.0.0.1:PORT" serves FastCGI over TCP');
SKIP: {
    skip 'nginx is not installed', 1 unless -x LFTest::nginx_binary();
    $t->start_nginx;
    is(http_get($t->nginx_url('/hello.lua'))->{content}, 'tcp hello', 'and nginx reaches it with fastcgi_pass host:port');
    $t->stop_nginx;
}
is($t->stop, 0, 'stop');

$port = free_port();
my $any = LFTest->new(conf => { listen => ":$port" }, scripts => { 'hello.lua' => $hello });
$any->start;
is($any->get('hello.lua')->{body}, 'tcp hello', 'listen = ":PORT" listens on every address');
my $busy = LFTest->new(conf => { listen => "127.0.0.1:$port" });
my $out = `${\ LFTest::binary()} -F ${\ $busy->conf_path} 2>&1`;
is($? >> 8, 1, 'a port in use is a start-up error');
like($out, qr/cannot bind 127\.0\.0\.1:$port: Address already in use/, 'that says why');
is($any->stop, 0, 'stop');
done_testing;
