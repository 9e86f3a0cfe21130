# LFNgx: luafcgid's ngx.* against OpenResty's, differentially.
#
# One private nginx (the system's, with Debian's ngx_lua loaded by
# load_module) serves the same directory twice: on one port each .lua is
# run by ngx_lua (content_by_lua_file), on another it goes to luafcgid
# over FastCGI (kept connections). A test asks both for the same request
# and compares status, headers and body; what cannot be the same over
# FastCGI is named by the test, never silently skipped:
#
#   my $h = LFNgx->new(scripts => { 'a.lua' => '...' }, conf => {...},
#                      http => 'lua_shared_dict d 1m;');
#   $h->start;
#   $h->compare('a.lua?x=1', method => 'POST', body => '...', headers => {...},
#               differ => { body => qr/.../ }, name => '...');
#   my $r = $h->request_raw('or', "GET /a.lua HTTP/1.0\r\n\r\n");  # bytes as written
#
# Or one function body run both ways, as the shared dictionaries' tests
# (tests/t/shm) do:
#
#   my $x = LFNgx->new(shared => { d => '1m' });   # lua_shared_dict and `shared`
#   $x->start;
#   my ($ngx, $lf) = $x->run('name', $lua);         # the two bodies
#
# $lua is the body of a function called as f(shared, sleep) that returns a
# string: `shared` is ngx.shared under nginx and the luafcgid module's
# `shared` under luafcgid (a handler script, so it runs whatever ngx does),
# sleep(s) lets time pass. Both sides get the helpers show(...) (values,
# typed: "a", 1.5, true, nil) and try(f, ...) (show() of what f returns, or
# "error: MSG" without its "file:line: "). run_raw($name, $ngx_text,
# $lf_text) fetches two scripts written as given.
#
# Normalised before comparing: the two ports (each side's own, and nginx's
# absolute Location prefix), nginx's and luafcgid's signature on error
# pages. Never compared: Date, Server, Connection, Keep-Alive,
# Transfer-Encoding and Content-Length (nginx streams ngx_lua's answer, and
# luafcgid sends a length), and luafcgid's X-Powered-By.
package LFNgx;

use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use LFTest qw(wait_for free_port slurp spew);

my $MODULES = '/usr/lib/nginx/modules';

# Is Debian's ngx_lua there to compare with?
sub available { return -f "$MODULES/ngx_http_lua_module.so" && -f "$MODULES/ndk_http_module.so" }

sub new {
    my ($class, %o) = @_;
    my $shared = $o{shared} // {};
    my $t = LFTest->new(
        conf => {
            contenttype => 'text/plain',    # nginx's default_type below
            upload_memory => 16384,         # nginx's client_body_buffer_size below
            workers => 2,
            (%$shared ? (shared => \(lua_table($shared))) : ()),
            %{ $o{conf} || {} },
        },
        scripts => $o{scripts} || {},
    );
    my $zones = join "\n    ", map { "lua_shared_dict $_ $shared->{$_};" } sort keys %$shared;
    return bless { t => $t, http => join("\n    ", grep { length } $zones, $o{http} // '') }, $class;
}

sub lua_table {
    my ($h) = @_;
    return '{ ' . join(', ', map { "[\"$_\"] = \"$h->{$_}\"" } sort keys %$h) . ' }';
}

sub lf   { $_[0]{t} }
sub daemon { $_[0]{t} }
sub www  { $_[0]{t}->www }
sub script { my $self = shift; return $self->{t}->script(@_) }

sub start {
    my ($self, %o) = @_;
    my $more = $o{http} // ($o{nginx} || {})->{http};     # lines in nginx's http block
    $self->{http} .= "\n    $more" if $more;
    my $t = $self->{t};
    $t->start;
    my $dir = $t->dir . '/nginx';
    mkdir $dir;
    mkdir "$dir/$_" for qw(body fastcgi proxy uwsgi scgi);
    my ($por, $plf) = (free_port(), free_port());
    @{$self}{qw(port_or port_lf)} = ($por, $plf);
    my $www = $t->www;
    my $sock = $t->listen_addr;
    my $user = $> == 0 ? 'user root root;' : '';
    # nginx's own fastcgi_params, not the system's: Debian's sends Host
    # without its port, which ngx_lua's side would not see
    my $params = join '', map { "            fastcgi_param $_->[0] $_->[1];\n" } (
        [QUERY_STRING => '$query_string'], [REQUEST_METHOD => '$request_method'],
        [CONTENT_TYPE => '$content_type'], [CONTENT_LENGTH => '$content_length'],
        [SCRIPT_NAME => '$fastcgi_script_name'], [REQUEST_URI => '$request_uri'],
        [DOCUMENT_URI => '$document_uri'], [DOCUMENT_ROOT => '$document_root'],
        [SERVER_PROTOCOL => '$server_protocol'], [REQUEST_SCHEME => '$scheme'],
        [HTTPS => '$https if_not_empty'], [GATEWAY_INTERFACE => 'CGI/1.1'],
        [SERVER_SOFTWARE => 'nginx/$nginx_version'], [REMOTE_ADDR => '$remote_addr'],
        [REMOTE_PORT => '$remote_port'], [REMOTE_USER => '$remote_user'],
        [SERVER_ADDR => '$server_addr'], [SERVER_PORT => '$server_port'],
        [SERVER_NAME => '$server_name']);
    spew("$dir/nginx.conf", <<"CONF");
load_module $MODULES/ndk_http_module.so;
load_module $MODULES/ngx_http_lua_module.so;
$user
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log info;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    fastcgi_temp_path $dir/fastcgi;
    proxy_temp_path $dir/proxy;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    client_max_body_size 4m;
    client_body_buffer_size 16k;
    default_type text/plain;
    lua_package_path "$www/?.lua;;";
    $self->{http}
    upstream luafcgid { server unix:$sock; keepalive 4; }
    server {
        listen 127.0.0.1:$por;
        root $www;
        location / { content_by_lua_file \$request_filename; }
    }
    server {
        listen 127.0.0.1:$plf;
        root $www;
        location / {
$params
            fastcgi_param SCRIPT_FILENAME \$request_filename;
            fastcgi_keep_conn on;
            fastcgi_pass luafcgid;
        }
    }
}
CONF
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open(STDOUT, '>>', "$dir/stderr.log");
        open(STDERR, '>>', "$dir/stderr.log");
        exec(LFTest::nginx_binary(), '-p', $dir, '-c', "$dir/nginx.conf") or POSIX::_exit(127);
    }
    LFTest::track($pid, 'nginx');
    $self->{nginx_pid} = $pid;
    my $up = wait_for(sub {
        return -1 if waitpid($pid, WNOHANG) == $pid;
        return IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $plf, Proto => 'tcp') ? 1 : 0;
    }, 15);
    die "nginx did not start:\n" . slurp("$dir/stderr.log") . slurp("$dir/error.log") unless $up && $up == 1;
    wait_for(sub { IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $por, Proto => 'tcp') }, 15);
    return $plf;
}

sub nginx_log { my ($self) = @_; return slurp($self->{t}->dir . '/nginx/error.log') }

sub stop {
    my ($self) = @_;
    if ($self->{nginx_pid}) {
        LFTest::stop_pid($self->{nginx_pid}, 'QUIT', 15);
        $self->{nginx_pid} = undef;
    }
    $self->{t}->stop;
}

sub DESTROY { $_[0]->stop if $_[0]{nginx_pid} }

# One request to SIDE ('or' or 'lf'): { status, reason, headers, body }.
sub request {
    my ($self, $side, $path, %o) = @_;
    require HTTP::Tiny;
    my $port = $side eq 'or' ? $self->{port_or} : $self->{port_lf};
    my $http = HTTP::Tiny->new(timeout => $o{timeout} // 30, keep_alive => 0, max_redirect => 0);
    my $r = $http->request($o{method} // 'GET', "http://127.0.0.1:$port/$path", {
        headers => $o{headers} // {},
        (defined $o{body} ? (content => $o{body}) : ()),
    });
    return { status => $r->{status}, reason => $r->{reason}, headers => $r->{headers} // {},
             body => $r->{content} // '', port => $port };
}

# BYTES sent as they are to SIDE ('or' or 'lf'), for what HTTP::Tiny would
# tidy (a name's spelling, bare LF line ends); the answer read to the
# close, so BYTES should ask for it (Connection: close, or HTTP/1.0), and
# a chunked body undone: { status, headers (names lower-cased), body, port }.
sub request_raw {
    my ($self, $side, $bytes, $timeout) = @_;
    require IO::Select;
    my $port = $side eq 'or' ? $self->{port_or} : $self->{port_lf};
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp',
                                  Timeout => 10) or die "connect $port: $!";
    LFTest::write_all($s, $bytes);
    my ($in, $sel, $end) = ('', IO::Select->new($s), time + ($timeout // 30));
    while (time < $end && $sel->can_read($end - time)) {
        my $n = sysread($s, $in, 65536, length $in);
        die "read $port: $!" unless defined $n;
        last if $n == 0;
    }
    close $s;
    my ($head, $body) = split /\r\n\r\n/, $in, 2;
    my ($status) = ($head // '') =~ m{^HTTP/\d\.\d (\d+)};
    my %h;
    for (split /\r\n/, $head // '') { $h{lc $1} = $2 if /^([^:\s]+):\s*(.*)$/ }
    if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
        my $out = '';
        while ($body =~ s/^([0-9a-fA-F]+)[^\r]*\r\n//) {
            my $n = hex $1;
            last if $n == 0;
            $out .= substr($body, 0, $n, '');
            $body =~ s/^\r\n//;
        }
        $body = $out;
    }
    return { status => $status // 0, headers => \%h, body => $body // '', port => $port };
}

my %ignored = map { $_ => 1 } qw(date server connection keep-alive transfer-encoding content-length
                                  x-powered-by);

# The comparable view of one side's answer.
sub normal {
    my ($self, $r) = @_;
    my $port = $r->{port};
    my %h;
    for my $k (keys %{ $r->{headers} }) {
        next if $ignored{$k};
        my $v = $r->{headers}{$k};
        my @v = ref $v ? @$v : ($v);
        s{^http://127\.0\.0\.1:\Q$port\E(?=/)}{} for @v;    # nginx makes a relative Location absolute
        $h{$k} = join("\n", @v);
    }
    (my $body = $r->{body}) =~ s/\b\Q$port\E\b/PORT/g;
    $body =~ s{<hr><center>(?:nginx(?:/[\d.]+)?|luafcgid)</center>}{<hr><center>SERVER</center>}g;
    return { status => $r->{status}, headers => \%h, body => $body };
}

# Ask both sides and compare; NAME says what the request shows. Options:
# method, body, headers (the request's), differ => { status | body |
# header NAME => a regex luafcgid's side must match instead, or undef to
# only skip it }, log => a regex both error logs must come to match.
sub compare {
    my ($self, $path, %o) = @_;
    my $name = $o{name} // $path;
    my $or = $self->normal($self->request('or', $path, %o));
    my $lf = $self->normal($self->request('lf', $path, %o));
    my %differ = %{ $o{differ} || {} };
    my $ok = 1;
    subtest $name => sub {
        for my $part (qw(status body)) {
            if (exists $differ{$part}) {
                like($lf->{$part}, $differ{$part}, "$part differs as documented")
                    if defined $differ{$part};
                next;
            }
            $ok &= is($lf->{$part}, $or->{$part}, $part);
        }
        my %names = map { $_ => 1 } keys %{ $or->{headers} }, keys %{ $lf->{headers} };
        for my $h (sort keys %names) {
            if (exists $differ{"header $h"}) {
                like($lf->{headers}{$h} // '', $differ{"header $h"}, "header $h differs as documented")
                    if defined $differ{"header $h"};
                next;
            }
            $ok &= is($lf->{headers}{$h}, $or->{headers}{$h}, "header $h");
        }
        if ($o{log}) {
            ok(wait_for(sub { $self->nginx_log =~ $o{log} }, 5), 'nginx logged it');
            ok($self->{t}->wait_log($o{log}, 5), 'luafcgid logged it');
        }
    };
    return wantarray ? ($or, $lf) : $ok;
}

# ---- one function body, both ways (see the top) -------------------------

my $PRELUDE = <<'LUA';
local function show(...)
  local n, t, o = select('#', ...), { ... }, {}
  for i = 1, n do
    local v = t[i]
    if type(v) == "string" then o[i] = string.format("%q", v)
    elseif type(v) == "number" then o[i] = string.format("%.14g", v)
    elseif type(v) == "nil" or type(v) == "boolean" then o[i] = tostring(v)
    else o[i] = type(v) end
  end
  return table.concat(o, ", ")
end
local function packed(ok, ...)
  if not ok then
    local e = tostring((...)):gsub("^[^:\n]*:%d+: ", "")
    return "error: " .. e
  end
  return show(...)
end
local function try(f, ...) return packed(pcall(f, ...)) end
LUA

sub fetch {
    my ($self, $side, $path) = @_;
    my $r = $self->request($side, $path);
    return $r->{status} == 200 ? $r->{body} : "HTTP $r->{status}: $r->{body}";
}

sub run {
    my ($self, $name, $lua) = @_;
    my $www = $self->{t}->www;
    mkdir "$www/ngx";
    spew("$www/ngx/$name.lua", $PRELUDE . "local f = function(shared, sleep)\n$lua\nend\n"
        . "ngx.print(f(ngx.shared, function(s) ngx.sleep(s) end))\n");
    spew("$www/$name.lua", $PRELUDE . "local f = function(shared, sleep)\n$lua\nend\n"
        . "local lf = require 'luafcgid'\n"
        . "local function sleep(s) os.execute(string.format('sleep %.3f', s)) end\n"
        . "function main(env, req) req:header('Content-Type', 'text/plain'); req:puts(f(lf.shared, sleep)) end\n");
    return ($self->fetch('or', "ngx/$name.lua"), $self->fetch('lf', "$name.lua"));
}

sub run_raw {
    my ($self, $name, $ngx, $lf) = @_;
    my $www = $self->{t}->www;
    mkdir "$www/ngx";
    spew("$www/ngx/$name.lua", $ngx);
    spew("$www/$name.lua", $lf);
    return ($self->fetch('or', "ngx/$name.lua"), $self->fetch('lf', "$name.lua"));
}

1;
