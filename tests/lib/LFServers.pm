# LFServers: the same small suite through each FastCGI web server in Debian.
#
# A test starts luafcgid (LFTest), writes a private config for its server in
# the daemon's temp dir, starts the real server with start_server (tracked by
# PID, like everything LFTest starts) and calls suite with the server's base
# URL. The suite's scripts are put in www by scripts(). What one server does
# not do (keep its FastCGI connections) is said by the caller; a check that
# fails only for a fix not in this branch is passed as a TODO with its reason.
package LFServers;

use strict;
use warnings;
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Test::More;
use LFTest qw(wait_for slurp spew free_port);

our $TODO;

our $BIG = '0123456789' x 10240;    # 100 kB

# The suite's scripts, in the daemon's www.
sub scripts {
    my ($t) = @_;
    $t->script('env.lua', "function main(env, req) req:header('Content-Type', 'text/plain') "
        . "req:puts(table.concat({ env.REQUEST_METHOD or '', env.QUERY_STRING or '', env.SCRIPT_NAME or '', "
        . "env.PATH_INFO or '', env.SCRIPT_FILENAME or '' }, '|')) end\n");
    $t->script('post.lua', "function main(env, req) local b = req:gets() or '' "
        . "req:puts(#b, ' ', b == string.rep('0123456789', 10240) and 'same' or 'differs') end\n");
    $t->script('hdr.lua', <<'LUA');
local lf = require "luafcgid"
function main(env, req)
  local c = lf.cookies(env.HTTP_COOKIE or "")
  req:header("X-Echo", env.HTTP_X_TEST or "-")
  req:header("Set-Cookie", "back=" .. (c.a or "-") .. "; Path=/")
  req:puts(c.a or "-", ",", c.b or "-")
end
LUA
    $t->script('broken.lua', "function main(env, req) error('broken on purpose') end\n");
    $t->script('id.lua', "function main(env, req) req:puts(env.QUERY_STRING) end\n");
}

# Remember how many sockets the idle daemon holds, before any request.
sub idle_sockets { my ($t) = @_; $t->{idle_sockets} = connections($t) }

# Start a server: argv, name, port; its output in DIR/NAME.out. Dies when it
# does not accept on 127.0.0.1:PORT within 20 s. Returns its pid.
sub start_server {
    my (%o) = @_;
    my $out = "$o{dir}/$o{name}.out";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>>', $out);
        open(STDERR, '>>', $out);
        %ENV = (%ENV, %{ $o{env} || {} });
        exec(@{ $o{argv} }) or POSIX::_exit(127);
    }
    LFTest::track($pid, $o{name});
    my $up = wait_for(sub {
        return 1 if IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $o{port}, Proto => 'tcp');
        return -1 if waitpid($pid, WNOHANG) == $pid;
        return 0;
    }, 20);
    die "$o{name} did not start:\n" . slurp($out) . join('', map { slurp($_) } @{ $o{logs} || [] })
        unless $up && $up == 1;
    return $pid;
}

sub stop_server { my ($pid, $sig) = @_; LFTest::stop_pid($pid, $sig // 'TERM', 15) }

# Apache 2.4 and the directory of its modules with mod_proxy_fcgi, or ()
# when either is missing.
sub apache_paths {
    my $apache = (grep { -x } '/usr/sbin/apache2', '/usr/local/sbin/httpd')[0];
    my $mods = (grep { -e "$_/mod_proxy_fcgi.so" } '/usr/lib/apache2/modules', '/usr/local/libexec/apache24')[0];
    return $apache && $mods ? ($apache, $mods) : ();
}

# Start Apache (mpm_event, mod_proxy_fcgi) from a private config in the
# daemon's temp dir, serving its www: a virtual host on a port of its own
# for each text in VHOSTS (what goes inside <VirtualHost>), then EXTRA at
# the end. Its error log is DIR/apache/error.log. Returns (pid, ports).
sub start_apache {
    my ($t, $vhosts, $extra) = @_;
    my ($apache, $mods) = apache_paths() or die "Apache 2.4 with mod_proxy_fcgi is not installed\n";
    my ($dir, $www) = ($t->dir, $t->www);
    my @ports = map { free_port() } @$vhosts;
    my $user = getpwnam('www-data') ? 'www-data' : 'nobody';
    my $group = getgrnam('www-data') ? 'www-data' : 'nogroup';
    mkdir "$dir/apache";
    my $conf = <<"CONF";
ServerRoot $dir/apache
DefaultRuntimeDir $dir/apache
PidFile $dir/apache/httpd.pid
ErrorLog $dir/apache/error.log
LogLevel warn
User $user
Group $group
ServerName 127.0.0.1
LoadModule mpm_event_module $mods/mod_mpm_event.so
LoadModule authz_core_module $mods/mod_authz_core.so
LoadModule proxy_module $mods/mod_proxy.so
LoadModule proxy_fcgi_module $mods/mod_proxy_fcgi.so
DocumentRoot $www
<Directory $www>
    Require all granted
</Directory>
CONF
    $conf .= join '', map { "Listen 127.0.0.1:$ports[$_]\n<VirtualHost 127.0.0.1:$ports[$_]>\n"
                            . "$vhosts->[$_]</VirtualHost>\n" } 0 .. $#ports;
    spew("$dir/apache/httpd.conf", $conf . ($extra // ''));
    my $pid = start_server(name => 'apache', dir => $dir, port => $ports[0],
        argv => [$apache, '-f', "$dir/apache/httpd.conf", '-DFOREGROUND'], logs => ["$dir/apache/error.log"]);
    wait_for(sub { IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $_) }, 20) for @ports;
    return ($pid, @ports);
}

sub caddy_binary { return (grep { -x } '/usr/bin/caddy', '/usr/local/bin/caddy')[0] }

# Start Caddy 2 from a private Caddyfile in the daemon's temp dir: a site
# on a port of its own for each text in TRANSPORTS (what goes inside its
# `transport fastcgi` block), serving www and passing .lua paths to the
# daemon's unix socket. Caddy keeps its state in the temp dir too.
# Returns (pid, ports).
sub start_caddy {
    my ($t, @transports) = @_;
    my ($dir, $www, $sock) = ($t->dir, $t->www, $t->listen_addr);
    my @ports = map { free_port() } @transports;
    mkdir "$dir/caddy";
    my $conf = "{\n\tadmin off\n\tauto_https off\n\tstorage file_system $dir/caddy\n}\n";
    for my $i (0 .. $#ports) {
        $conf .= "\nhttp://127.0.0.1:$ports[$i] {\n\troot * $www\n\t\@lua path_regexp \\.lua(/|\$)\n"
               . "\treverse_proxy \@lua unix/$sock {\n\t\ttransport fastcgi"
               . ($transports[$i] eq '' ? "\n" : " {\n\t\t\t$transports[$i]\n\t\t}\n") . "\t}\n}\n";
    }
    spew("$dir/caddy/Caddyfile", $conf);
    my $pid = start_server(name => 'caddy', dir => $dir, port => $ports[0],
        env => { HOME => "$dir/caddy", XDG_DATA_HOME => "$dir/caddy", XDG_CONFIG_HOME => "$dir/caddy" },
        argv => [caddy_binary(), 'run', '--adapter', 'caddyfile', '--config', "$dir/caddy/Caddyfile"]);
    wait_for(sub { IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $_) }, 20) for @ports;
    return ($pid, @ports);
}

sub haproxy_binary { return (grep { -x } qw(/usr/sbin/haproxy /usr/local/sbin/haproxy))[0] }

# Start HAProxy with its own FastCGI client (fcgi-app) from a private
# config in DIR/haproxy-NAME, serving www through SERVER (the daemon's
# address, HAProxy's form), with the fcgi-app OPTIONS. Returns (pid, port,
# the file its output goes to).
sub start_haproxy {
    my ($t, %o) = @_;
    my $dir = $t->dir . "/haproxy-$o{name}";
    my $www = $t->www;
    my $port = free_port();
    my $opts = join '', map { "    option $_\n" } @{ $o{options} // [] };
    mkdir $dir;
    spew("$dir/haproxy.cfg", <<"CFG");
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
    server lf $o{server} proto fcgi
CFG
    my $pid = start_server(name => 'haproxy', dir => $dir, port => $port,
                           argv => [haproxy_binary(), '-db', '-f', "$dir/haproxy.cfg"]);
    return ($pid, $port, "$dir/haproxy.out");
}

sub http {
    my ($method, $url, %o) = @_;
    require HTTP::Tiny;
    my $ua = $o{ua} // HTTP::Tiny->new(timeout => 30, keep_alive => 0);
    return $ua->request($method, $url, { headers => $o{headers} // {},
                                         defined $o{content} ? (content => $o{content}) : () });
}

# The sockets the serving child holds: the listener and any others it holds
# idle (remembered by idle_sockets before any request), and its FastCGI
# connections.
sub connections { LFTest::sockets($_[0]) }

# The suite, through BASE ("http://127.0.0.1:port"). Options: label, keeps
# (the server keeps its FastCGI connections), todo => { check => reason },
# skip => { check => reason } (what the server itself does not take),
# script_name (the URL prefix scripts are under, default "").
sub suite {
    my ($t, $base, %o) = @_;
    my $l = $o{label} // $base;
    my $todo = $o{todo} // {};
    my $www = $t->www;
    my $r;

    $r = http(GET => "$base/env.lua?x=1&y=a%20b");
    is($r->{status}, 200, "$l: GET with a query: 200") or diag($r->{content});
    is($r->{content}, "GET|x=1&y=a%20b|/env.lua||$www/env.lua", "$l: GET with a query: the CGI variables");

    $r = http(GET => "$base/env.lua/extra/path?q=2");
    is($r->{content}, "GET|q=2|/env.lua|/extra/path|$www/env.lua", "$l: PATH_INFO and SCRIPT_NAME split");

    {
        local $TODO = $todo->{post};
        $r = http(POST => "$base/post.lua", content => $BIG,
                  headers => { 'Content-Type' => 'application/octet-stream' });
        is($r->{content}, '102400 same', "$l: POST 100 kB arrives whole");
    }

    SKIP: {
        skip "$l: $o{skip}{chunked}", 1 if $o{skip}{chunked};
        local $TODO = $todo->{chunked};
        my @parts = map { substr($BIG, $_ * 10240, 10240) } 0 .. 9;
        $r = http(POST => "$base/post.lua", content => sub { shift @parts },
                  headers => { 'Content-Type' => 'application/octet-stream' });
        is($r->{content}, '102400 same', "$l: POST 100 kB chunked arrives whole");
    }

    $r = http(GET => "$base/hdr.lua", headers => { 'X-Test' => 'abc 1', Cookie => 'a=1; b=two' });
    is($r->{content}, '1,two', "$l: the cookies reach the script");
    is($r->{headers}{'x-echo'}, 'abc 1', "$l: a request header reaches the script, its answer the client");
    like($r->{headers}{'set-cookie'} // '', qr/^back=1; Path=\//, "$l: Set-Cookie reaches the client");

    {
        local $TODO = $todo->{404};
        $r = http(GET => "$base/missing.lua");
        is($r->{status}, 404, "$l: a missing script is a 404");
    }
    $r = http(GET => "$base/broken.lua");
    is($r->{status}, 500, "$l: a broken script is a 500");
    like($r->{content}, qr/broken on purpose/, "$l: with the error on its page (showerrors)");

    if ($o{keeps}) {
        require HTTP::Tiny;
        my $ua = HTTP::Tiny->new(timeout => 30, keep_alive => 1);
        my $bad = 0;
        for my $i (1 .. 10) {
            $r = http(GET => "$base/id.lua?k$i", ua => $ua);
            $bad++ unless $r->{status} == 200 && $r->{content} eq "k$i";
        }
        is($bad, 0, "$l: 10 requests on a kept client connection, all right");
        my $idle = $t->{idle_sockets} // 1;
        my $held = wait_for(sub { connections($t) > $idle }, 5);
        ok($held, "$l: the server keeps its FastCGI connection open between requests")
            or diag('sockets held by the serving child: ' . connections($t));
    }

    my ($clients, $each) = (8, 25);
    my @res = LFTest::run_clients($clients, 120, sub {
        my ($c) = @_;
        my $bad = 0;
        for my $i (1 .. $each) {
            my $q = "c${c}r$i";
            my $res = http(GET => "$base/id.lua?$q");
            $bad++ unless $res->{status} == 200 && $res->{content} eq $q;
        }
        return $bad;
    });
    my $failed = 0;
    $failed += $_ // $each for @res;
    is($failed, 0, "$l: 200 requests from $clients concurrent clients, every answer right");
}

# A request straight to the daemon, with these CGI variables only.
sub raw {
    my ($t, %p) = @_;
    return $t->fcgi({ REQUEST_METHOD => 'GET', GATEWAY_INTERFACE => 'CGI/1.1', SERVER_PROTOCOL => 'HTTP/1.1',
                      QUERY_STRING => '', %p });
}

# Straight to the daemon (its docroot the www dir): resolving opens no way
# around docroot and extensions, whatever path a server passes on.
sub guards {
    my ($t) = @_;
    my ($www, $dir) = ($t->www, $t->dir);
    mkdir "$dir/outside";
    spew("$dir/outside/evil.lua", "function main(env, req) req:puts('evil') end\n");
    spew("$www/upload.txt", "function main(env, req) req:puts('evil') end\n");
    mkdir "$www/dir.lua";
    spew("$www/dir.lua/index.lua", "function main(env, req) req:puts('index') end\n");
    symlink("$dir/outside/evil.lua", "$www/link.lua") or die "symlink: $!";
    symlink("$dir/outside", "$www/linkdir") or die "symlink: $!";
    $t->script('orig.lua', "function main(env, req) req:puts(table.concat({ env.SCRIPT_FILENAME, "
        . "env.ORIG_SCRIPT_FILENAME or '-', env.PATH_INFO or '-', env.ORIG_PATH_INFO or '-', "
        . "env.SCRIPT_NAME or '-', env.ORIG_SCRIPT_NAME or '-' }, '|')) end\n");

    my @refused = (
        ["$www/upload.txt/x.lua", 403, 'a file that is no script, with a .lua path after it'],
        ["$www/../outside/evil.lua/x", 403, "'..' out of docroot, split"],
        ["proxy:fcgi://localhost$www/../outside/evil.lua?x.lua", 403, "'..' out of docroot, Apache's prefix"],
        ["$www/link.lua/x", 403, 'a symlink out of docroot, split'],
        ["$www/linkdir/evil.lua/p", 403, 'a symlinked directory out of docroot, split'],
        ["$www/dir.lua", 404, 'a directory named dir.lua'],
        # no file to split at: the whole path's ending is checked first, as before
        ["$www/dir.lua/x", 403, 'a path under a directory named dir.lua'],
        ["$www/missing.lua/x", 403, 'a missing script with a path after it'],
        ["$www/missing.lua/x.lua", 404, 'a missing script with a .lua path after it'],
    );
    for my $c (@refused) {
        my $r = raw($t, SCRIPT_FILENAME => $c->[0]);
        is($r->{status}, $c->[1], "guards: $c->[2]: $c->[1]");
        unlike($r->{body} // '', qr/evil/, "guards: $c->[2]: nothing ran");
    }
    my $r = raw($t, DOCUMENT_ROOT => $www, SCRIPT_NAME => '', PATH_INFO => '/../outside/evil.lua');
    is($r->{status}, 403, "guards: '..' in PATH_INFO, walked from DOCUMENT_ROOT: 403");
    $r = raw($t, DOCUMENT_ROOT => $www, SCRIPT_NAME => '', PATH_INFO => '/dir.lua/index.lua/p');
    is($r->{body}, 'index', 'guards: a script inside a directory named dir.lua still runs');

    $r = raw($t, SCRIPT_FILENAME => "proxy:fcgi://127.0.0.1:9000$www//orig.lua//p?q=1",
             SCRIPT_NAME => '/orig.lua//p');
    is($r->{status}, 200, 'guards: empty components split: 200');
    # the script's path is written one way; what follows it is as sent
    is($r->{body}, "$www/orig.lua|proxy:fcgi://127.0.0.1:9000$www//orig.lua//p?q=1|//p|-|/orig.lua|/orig.lua//p",
       'env: the resolved variables, and those received as ORIG_*');
}

1;
