# An answer given before the body is all read (a 413 over maxpost, a 404,
# a handler that leaves the body) reaches the client at once, whatever the
# body's size and whether the server is still sending it, through each
# web server in the way it has of sending a body and of reading an early
# answer: nginx (which stops sending at the answer's head and, without
# fastcgi_keep_conn, waits for the connection's end; with
# fastcgi_request_buffering off it sends while the client uploads), Apache
# (reads while it sends, stops at FCGI_END_REQUEST, and with enablereuse
# sends its next request on the same connection), Caddy (sends the whole
# body before it reads a byte) and HAProxy (keep-conn: stops, keeps the
# connection). Each case is timed against client_timeout = 10: an answer
# that waits for it shows; and the next request through the same server
# gets its own answer.
# one build: what the web server sends and how it keeps its connections, answered by the FastCGI layer in C: the Lua build changes none of it
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use Time::HiRes qw(time);
use LFTest qw(spew);
use LFServers;

plan skip_all => 'curl is not installed' unless `curl --version 2>/dev/null` =~ /^curl/;

my $MiB = 1024 * 1024;
my $t = LFTest->new(conf => { workers => 2, listen_mode => '0666', maxpost => $MiB,
                              upload_memory => 65536, client_timeout => 10 });
$t->script('post.lua', "function main(env, req) local b = req:gets() req:puts(#(b or '')) end\n");
$t->script('never.lua', "function main(env, req) req:puts('never read') end\n");
$t->script('part.lua', "function main(env, req) req:puts('part ', #(req:read(10) or '')) end\n");
$t->script('id.lua', "function main(env, req) req:puts(env.QUERY_STRING) end\n");
$t->start;
my ($dir, $www, $sock) = ($t->dir, $t->www, $t->listen_addr);
spew("$dir/4m", 'x' x (4 * $MiB));
spew("$dir/900k", 'y' x (900 * 1024));

# curl's status and the seconds it took.
sub curl {
    my ($url, @args) = @_;
    my $t0 = time;
    my $code = `curl -s -o /dev/null -w '%{http_code}' --max-time 30 @args '$url' 2>/dev/null`;
    return ($code, time - $t0);
}

# The cases through BASE; SKIP names cases the server itself does not take.
sub cases {
    my ($label, $base, %skip) = @_;
    my @cases = (
        ['a multipart upload over maxpost', 'post.lua', 413, "-F up=\@$dir/4m"],
        ['a body over maxpost with Expect: 100-continue', 'post.lua', 413,
         "-H 'Expect: 100-continue' --data-binary \@$dir/4m"],
        ['a chunked body over maxpost', 'post.lua', 413, "-H 'Transfer-Encoding: chunked' --data-binary \@$dir/4m"],
        ['a body over maxpost while the client still sends', 'post.lua', 413, "--limit-rate 2M --data-binary \@$dir/4m"],
        ['a 4 MiB body to a missing script', 'missing.lua', 404, "--data-binary \@$dir/4m"],
        ['a 900 KiB body the handler never reads', 'never.lua', 200, "--data-binary \@$dir/900k"],
        ['a 900 KiB body the handler reads 10 bytes of', 'part.lua', 200, "--data-binary \@$dir/900k"],
    );
    my $n = 0;
    for my $c (@cases) {
        my ($name, $path, $want, $args) = @$c;
        SKIP: {
            skip "$label: $name: $skip{$name}", 3 if $skip{$name};
            my ($code, $took) = curl("$base/$path", $args);
            is($code, $want, "$label: $name: $want");
            ok($took < 5, sprintf("$label: $name: answered in %.1f s, not at client_timeout", $took));
            $n++;
            my ($next) = curl("$base/id.lua?next$n");
            is($next, 200, "$label: $name: the next request is served");
        }
    }
}

# nginx, without and with kept connections, and streaming the body
SKIP: {
    skip 'nginx is not installed', 64 unless -x LFTest::nginx_binary();
    $t->start_nginx(client_max_body_size => '64m');
    cases('nginx', $t->nginx_url(''));
    $t->stop_nginx;
    $t->start_nginx(client_max_body_size => '64m', keepalive => 8);
    cases('nginx, fastcgi_keep_conn', $t->nginx_url(''));
    $t->stop_nginx;
    $t->start_nginx(client_max_body_size => '64m', fastcgi => 'fastcgi_request_buffering off;');
    cases('nginx, fastcgi_request_buffering off', $t->nginx_url(''));
    $t->stop_nginx;
    unlike(LFTest::slurp("$dir/nginx/error.log"), qr/upstream timed out|prematurely|upstream sent/,
           'nginx logged no upstream error');
}

# Apache, without and with kept connections
SKIP: {
    skip 'Apache 2.4 with mod_proxy_fcgi is not installed, or not root', 43
        unless LFServers::apache_paths() && $> == 0;
    my $handler = sub { qq{<FilesMatch "\\.lua\$">\n    SetHandler "$_[0]"\n</FilesMatch>\n} };
    my ($pid, $p1, $p2) = LFServers::start_apache($t,
        [ $handler->("proxy:unix:$sock|fcgi://localhost"), $handler->('proxy:fcgi://lfkeep') ],
        qq{<Proxy "unix:$sock|fcgi://lfkeep">\n    ProxySet enablereuse=on\n</Proxy>\n});
    cases('Apache', "http://127.0.0.1:$p1");
    cases('Apache, enablereuse', "http://127.0.0.1:$p2");
    LFServers::stop_server($pid, 'TERM');
    unlike(LFTest::slurp("$dir/apache/error.log"), qr/AH01067|AH01075|AH01068/,
           'Apache logged no failed read or write on its FastCGI connections');
}

SKIP: {
    skip 'Caddy is not installed', 21 unless LFServers::caddy_binary();
    my ($pid, $port) = LFServers::start_caddy($t, 'split .lua');
    cases('Caddy', "http://127.0.0.1:$port");
    LFServers::stop_server($pid, 'TERM');
}

SKIP: {
    skip 'HAProxy is not installed', 21 unless LFServers::haproxy_binary();
    my ($pid, $port) = LFServers::start_haproxy($t, name => 'keep', server => $sock, options => ['keep-conn']);
    cases('HAProxy, keep-conn', "http://127.0.0.1:$port",
          'a chunked body over maxpost' => 'HAProxy answers a chunked request body with its own 400 page');
    LFServers::stop_server($pid, 'TERM');
}

# The report's own case: maxpost = 11 MiB, a 12 MB file, through nginx.
SKIP: {
    skip 'nginx is not installed', 5 unless -x LFTest::nginx_binary();
    $t->write_conf(maxpost => 11 * $MiB);
    $t->signal('HUP');
    ok($t->wait_log(qr/reloaded/), 'maxpost = 11 MiB');
    spew("$dir/12m", 'z' x (12 * 1000 * 1000));
    $t->start_nginx(client_max_body_size => '64m');
    for my $expect ('', "-H 'Expect: 100-continue'") {
        my ($code, $took) = curl($t->nginx_url('/post.lua'), $expect, "-F upload=\@$dir/12m");
        is($code, 413, "curl -F upload=\@12MB $expect: 413");
        ok($took < 5, sprintf('in %.1f s', $took));
    }
    $t->stop_nginx;
}

unlike($t->log, qr/out of sequence|too slow|died of/, 'luafcgid refused no record and timed out no client');
is($t->stop, 0, 'stop');
done_testing;
