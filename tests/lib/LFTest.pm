# LFTest: helpers for the integration tests.
#
# Every test starts the real daemon from a private config in a temp dir,
# talks to it with the FastCGI client below (or through a private nginx
# with HTTP::Tiny), and ends every process it started, by PID. Waits poll a
# condition against a deadline; nothing sleeps and hopes.
package LFTest;

use strict;
use warnings;
use Exporter 'import';
use File::Path ();
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use IO::Socket::IP;
use IO::Socket::UNIX;
use POSIX qw(:sys_wait_h);
use Socket qw(SOCK_STREAM);
use Time::HiRes qw(time sleep);

our @EXPORT_OK = qw(wait_for free_port slurp spew http_get http_post alive closed_within drained);

$SIG{PIPE} = 'IGNORE';

my %started;    # pid => what, for the END sweep

sub top { $ENV{LF_TOP} || do { my $d = __FILE__; $d =~ s{/tests/lib/LFTest\.pm$}{}; $d } }

sub binary { $ENV{LUAFCGID} || top() . '/src/luafcgid' }

# Poll CODE every 20 ms until it returns true or SECONDS pass; its last value.
sub wait_for {
    my ($code, $seconds) = @_;
    my $deadline = time + ($seconds // 10);
    while (1) {
        my $v = $code->();
        return $v if $v || time > $deadline;
        sleep 0.02;
    }
}

sub slurp {
    my ($path) = @_;
    open(my $fh, '<', $path) or return '';
    local $/;
    my $s = <$fh>;
    return $s // '';
}

sub spew {
    my ($path, $content) = @_;
    open(my $fh, '>', $path) or die "cannot write $path: $!";
    print $fh $content;
    close $fh;
}

# A port nothing listens on now and that no other test running at the
# same time was given (test files run in parallel): it is picked below the
# ephemeral range, so that no client's connection takes it meanwhile, and
# held for as long as this process runs by an abstract unix socket named
# after it, which the kernel lets one process bind at a time.
my %ports_held;
sub free_port {
    for (1 .. 1000) {
        my $port = 20000 + int(rand(12000));
        next if $ports_held{$port};
        my $hold = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => "\0luafcgid-test-port-$port") or next;
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port, Proto => 'tcp',
                                      Listen => 1, ReuseAddr => 1) or next;
        close $s;
        $ports_held{$port} = $hold;
        return $port;
    }
    die "no free port\n";
}

# True when the peer closed (EOF or reset) socket S within SECONDS; what it
# sends meanwhile is read and dropped.
sub closed_within {
    my ($s, $seconds) = @_;
    my $sel = IO::Select->new($s);
    return wait_for(sub {
        return 0 unless $sel->can_read(0.05);
        my $n = sysread($s, my $buf, 65536);
        return !$n;
    }, $seconds // 5);
}

# True once the peer has read every byte written on S, a unix stream socket
# (Linux: SIOCOUTQ counts what the peer has not read yet): the daemon has
# taken what a test sent before the test sends more, or goes on.
sub drained {
    my ($s) = @_;
    my $n = pack('i', 0);
    ioctl($s, 0x5411, $n) or return 0;         # SIOCOUTQ (TIOCOUTQ)
    return unpack('i', $n) == 0;
}

# Fork N clients running CODE (given the client number; it returns a line
# of text, its result); returns a handle for wait_clients.
sub start_clients {
    my ($n, $code) = @_;
    my $dir = tempdir('lf-clients.XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my @pids;
    for my $c (1 .. $n) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            my $out = eval { $code->($c) };
            spew("$dir/$c", $out) if defined $out;
            POSIX::_exit(defined $out ? 0 : 1);
        }
        push @pids, $pid;
    }
    return { dir => $dir, pids => \@pids };
}

# Wait for the clients, at most SECONDS in all (the late ones are killed);
# their results in order, undef for a client that did not finish.
sub wait_clients {
    my ($h, $seconds) = @_;
    my $deadline = time + $seconds;
    for my $pid (@{ $h->{pids} }) {
        my $left = $deadline - time;
        wait_for(sub { waitpid($pid, WNOHANG) == $pid }, $left > 0.1 ? $left : 0.1)
            or do { kill 'KILL', $pid; waitpid($pid, 0) };
    }
    my @out = map { -e "$h->{dir}/$_" ? slurp("$h->{dir}/$_") : undef } 1 .. scalar @{ $h->{pids} };
    # Removed here, not only at exit: CLEANUP does not run in a test that
    # ends by exec or _exit, and a run of the suite left these behind.
    File::Path::remove_tree($h->{dir});
    return @out;
}

sub run_clients { my ($n, $seconds, $code) = @_; return wait_clients(start_clients($n, $code), $seconds) }

# A Lua C module NAME built from SOURCE into DIR/NAME.so with the system's
# compiler, for a test that needs C code a script calls (one that crashes,
# blocks, forks...): 1, or undef with the reason in $@ (no compiler, or
# it failed).
sub c_module {
    my ($dir, $name, $source, @libs) = @_;
    my $cc = `command -v cc 2>/dev/null` || `command -v gcc 2>/dev/null`;
    chomp $cc;
    if (!$cc) { $@ = 'no C compiler'; return undef }
    my $cflags = `pkg-config --cflags lua5.1 2>/dev/null` || '-I/usr/include/lua5.1';
    chomp $cflags;
    spew("$dir/$name.c", $source);
    if (system("$cc -shared -fPIC $cflags -o $dir/$name.so $dir/$name.c @libs 2>$dir/$name.cc.log") != 0) {
        $@ = "cannot build $name.so: " . slurp("$dir/$name.cc.log");
        return undef;
    }
    return 1;
}

# A process that is not ours to reap is gone when it is a zombie too.
sub alive {
    my ($pid) = @_;
    return 0 unless kill(0, $pid);
    my ($state) = slurp("/proc/$pid/status") =~ /^State:\s+(\S)/m;
    return !defined $state || $state ne 'Z';
}

# The serving process under a supervisor (a test's daemon or a pid): the
# supervisor's one child; waits for it, at most SECONDS.
sub serving_pid {
    my ($sup, $seconds) = @_;
    $sup = $sup->{pid} if ref $sup;
    my $pid;
    wait_for(sub { ($pid) = `pgrep -P $sup 2>/dev/null` =~ /^(\d+)$/m; $pid }, $seconds // 10);
    return $pid;
}

# A C compiler, or '' where there is none (a test that builds C skips).
sub cc { my $cc = `command -v cc 2>/dev/null` || `command -v gcc 2>/dev/null`; chomp $cc; return $cc }

# The Lua C module DIR/NAME.so built from SOURCE (FLAGS after it, for the
# linker); its path. Dies with the compiler's message when it fails.
sub lua_module {
    my ($dir, $name, $source, @flags) = @_;
    my $cflags = `pkg-config --cflags lua5.1 2>/dev/null` || '-I/usr/include/lua5.1';
    chomp $cflags;
    spew("$dir/$name.c", $source);
    system(cc() . " -shared -fPIC $cflags -o $dir/$name.so $dir/$name.c @flags 2>$dir/$name.cc.log") == 0
        or die "cannot build $name.so: " . slurp("$dir/$name.cc.log");
    return "$dir/$name.so";
}

# The sockets the serving process under supervisor T (a daemon or a pid)
# holds: its listeners and the connections it took; -1 when there is none.
sub sockets {
    my ($t) = @_;
    my $pid = serving_pid($t) or return -1;
    opendir(my $d, "/proc/$pid/fd") or return -1;
    return scalar grep { (readlink("/proc/$pid/fd/$_") // '') =~ /^socket:/ } readdir $d;
}

sub track { my ($pid, $what) = @_; $started{$pid} = $what; }
sub untrack { delete $started{$_[0]}; }

# Stop PID with SIG, reap it within SECONDS; its wait status, or undef.
sub stop_pid {
    my ($pid, $sig, $seconds) = @_;
    kill $sig, $pid;
    my $status;
    wait_for(sub { my $r = waitpid($pid, WNOHANG); $status = $? if $r == $pid; $r == $pid || $r < 0 },
             $seconds // 10);
    if (!defined $status && kill(0, $pid)) {
        kill 'KILL', $pid;
        waitpid($pid, 0);
    }
    untrack($pid);
    return $status;
}

END {
    my $rc = $?;
    for my $pid (keys %started) {
        kill 'TERM', $pid;
        wait_for(sub { waitpid($pid, WNOHANG) != 0 }, 5) or do { kill 'KILL', $pid; waitpid($pid, 0) };
    }
    $? = $rc;
}

# ---- a daemon under test --------------------------------------------------

# LFTest->new(conf => { key => value, ... }, scripts => { name => source })
sub new {
    my ($class, %o) = @_;
    my $dir = tempdir('lf-test.XXXXXX', TMPDIR => 1, CLEANUP => 1);
    chmod 0755, $dir;
    mkdir "$dir/www";
    my $self = bless { dir => $dir, www => "$dir/www", pid => undef }, $class;
    $self->{conf} = {
        listen     => "$dir/lf.sock",
        pidfile    => "$dir/lf.pid",
        logfile    => "$dir/lf.log",
        daemonize  => 0,
        workers    => 2,
        loglevel   => 'info',
        showerrors => 1,
        %{ $o{conf} || {} },
    };
    $self->script($_, $o{scripts}{$_}) for keys %{ $o{scripts} || {} };
    $self->write_conf;
    return $self;
}

sub dir  { $_[0]{dir} }
sub www  { $_[0]{www} }
sub pid  { $_[0]{pid} }
sub conf_path { "$_[0]{dir}/lf.conf" }
sub log  { slurp("$_[0]{dir}/lf.log") }
sub stderr { slurp("$_[0]{dir}/stderr.log") }
sub listen_addr { $_[0]{conf}{listen} }

sub script {
    my ($self, $name, $source) = @_;
    my $path = "$self->{www}/$name";
    spew($path, $source);
    return $path;
}

sub lua_value {
    my ($v) = @_;
    return 'nil' unless defined $v;
    if (ref $v eq 'ARRAY') {
        return '{ ' . join(', ', map { lua_value($_) } @$v) . ' }';
    }
    if (ref $v eq 'SCALAR') { return $$v }       # raw Lua
    return $v if $v =~ /^-?\d+(\.\d+)?$/ && $v !~ /^0\d/;
    (my $s = $v) =~ s/([\\"])/\\$1/g;
    $s =~ s/\n/\\n/g;
    $s =~ s/\r/\\r/g;
    return "\"$s\"";
}

# Booleans are written as true/false for these keys.
my %bool = map { $_ => 1 } qw(daemonize showerrors buffering);

sub conf_text {
    my ($self) = @_;
    my $text = "-- written by the test\n";
    for my $k (sort keys %{ $self->{conf} }) {
        my $v = $self->{conf}{$k};
        my $lv = $bool{$k} && defined $v && !ref $v ? ($v ? 'true' : 'false') : lua_value($v);
        $text .= "$k = $lv\n";
    }
    return $text . ($self->{extra_conf} // '');
}

sub write_conf {
    my ($self, %more) = @_;
    $self->{conf}{$_} = $more{$_} for keys %more;
    spew($self->conf_path, $self->conf_text);
}

# Start the daemon in the foreground; returns when it accepts connections.
# START(ignore_int => 1) starts it as a shell starts a background job.
sub start {
    my ($self, @args) = @_;
    my %o = @args && $args[0] eq 'ignore_int' ? (splice(@args, 0, 2)) : ();
    my $before = () = $self->log =~ / started: \d+ workers/g;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        $SIG{INT} = 'IGNORE' if $o{ignore_int};
        open(STDOUT, '>>', "$self->{dir}/stderr.log");
        open(STDERR, '>>', "$self->{dir}/stderr.log");
        exec(binary(), '-F', @args, $self->conf_path) or POSIX::_exit(127);
    }
    track($pid, 'luafcgid');
    $self->{pid} = $pid;
    my $up = wait_for(sub {
        return 1 if $self->can_connect;
        my $r = waitpid($pid, WNOHANG);
        if ($r == $pid) { $self->{exit} = $?; untrack($pid); $self->{pid} = undef; return -1; }
        return 0;
    }, 15);
    die "luafcgid did not start:\n" . $self->stderr . $self->log unless $up && $up == 1;
    # The supervisor takes connections before the serving process has
    # logged its start; tests that read the log next need that line.
    # ({early} set: return as soon as the socket takes connections.)
    wait_for(sub { (() = $self->log =~ / started: \d+ workers/g) > $before }, 5) unless $self->{early};
    return $self;
}

sub can_connect {
    my ($self) = @_;
    my $s = $self->connect or return 0;
    close $s;
    return 1;
}

sub connect {
    my ($self) = @_;
    my $a = $self->{conf}{listen};
    if ($a =~ /^(.*):(\d+)$/ && $a !~ m{^/}) {
        my ($host, $port) = ($1 eq '' ? '127.0.0.1' : $1, $2);
        $host =~ s/^\[(.*)\]$/$1/;
        return IO::Socket::IP->new(PeerHost => $host, PeerService => $port, Proto => 'tcp', Timeout => 5)
            if $host =~ /:/;
        return IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port, Proto => 'tcp', Timeout => 5);
    }
    return IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $a);
}

# TERM (or SIG) and reap; the exit status.
sub stop {
    my ($self, $sig) = @_;
    return undef unless $self->{pid};
    my $status = stop_pid($self->{pid}, $sig // 'TERM', 15);
    $self->{pid} = undef;
    return $status;
}

sub signal { my ($self, $sig) = @_; kill $sig, $self->{pid}; }

sub wait_log {
    my ($self, $re, $seconds) = @_;
    return wait_for(sub { $self->log =~ $re }, $seconds // 10);
}

sub DESTROY { $_[0]->stop if $_[0]{pid} }

# Hold N workers of the daemon (all by default) with requests that wait
# until release_workers lets go (30 s at most, within the daemon's
# timeout): the test knows they are busy, and until when. The held
# connections, once each request has started; () when they did not.
sub hold_workers {
    my ($self, $n) = @_;
    $n //= $self->{conf}{workers};
    my ($dir, $go) = ($self->{dir}, "$self->{dir}/lf-go");
    unlink $go, glob("$dir/lf-held.*");
    $self->script('lf-hold.lua', <<'LUA') unless -e "$self->{www}/lf-hold.lua";
function main(env, req)
  local f = io.open(env.MARK, "w") if f then f:close() end
  for i = 1, 600 do
    local g = io.open(env.GO) if g then g:close() break end
    os.execute("sleep 0.05")
  end
  req:puts("held")
end
LUA
    my @s = map {
        my $s = $self->connect;
        write_all($s, encode_request({ SCRIPT_FILENAME => "$self->{www}/lf-hold.lua", REQUEST_METHOD => 'GET',
                                       MARK => "$dir/lf-held.$_", GO => $go }, ''));
        $s;
    } 1 .. $n;
    return wait_for(sub { $n == grep { -e "$dir/lf-held.$_" } 1 .. $n }, 15) ? @s : ();
}

# Let the requests of hold_workers end; how many of them answered.
sub release_workers {
    my ($self, @held) = @_;
    spew("$self->{dir}/lf-go", '');
    return scalar grep { read_response($_, timeout => 30)->{body} eq 'held' } @held;
}

# ---- FastCGI client ---------------------------------------------------------

sub nv_len { my $n = length $_[0]; $n < 128 ? pack('C', $n) : pack('N', $n | 0x80000000) }

sub record {
    my ($type, $id, $content) = @_;
    my $pad = (8 - length($content) % 8) % 8;
    return pack('CCnnCx', 1, $type, $id, length $content, $pad) . $content . ("\0" x $pad);
}

sub stream {
    my ($type, $id, $data) = @_;
    my $out = '';
    for (my $off = 0; $off < length $data; $off += 32768) {
        $out .= record($type, $id, substr($data, $off, 32768));
    }
    return $out . record($type, $id, '');
}

sub write_all {
    my ($s, $data) = @_;
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite($s, $data, length($data) - $off, $off);
        return 0 unless defined $n && $n > 0;
        $off += $n;
    }
    return 1;
}

sub read_exact {
    my ($s, $sel, $n, $deadline) = @_;
    my $buf = '';
    while (length $buf < $n) {
        my $left = $deadline - time;
        return undef if $left <= 0 || !$sel->can_read($left);
        my $r = sysread($s, $buf, $n - length $buf, length $buf);
        return undef unless $r;
        }
    return $buf;
}

# The encoded request: BEGIN_REQUEST, PARAMS, STDIN.
sub encode_request {
    my ($params, $stdin, %o) = @_;
    my $id = $o{id} // 1;
    my $p = '';
    for my $k (sort keys %$params) {
        $p .= nv_len($k) . nv_len($params->{$k}) . $k . $params->{$k};
    }
    return record(1, $id, pack('nCx5', 1, $o{keep_conn} ? 1 : 0))
         . stream(4, $id, $p) . stream(5, $id, $stdin // '');
}

# Read one response from S: { status, headers, body, stdout, stderr, ended }
sub read_response {
    my ($s, %o) = @_;
    my $sel = IO::Select->new($s);
    my $deadline = time + ($o{timeout} // 30);
    my %r = (stdout => '', stderr => '', ended => 0);
    while (1) {
        my $h = read_exact($s, $sel, 8, $deadline) // last;
        my ($ver, $type, $id, $clen, $plen) = unpack('CCnnC', $h);
        my $c = $clen + $plen ? read_exact($s, $sel, $clen + $plen, $deadline) : '';
        last unless defined $c;
        $c = substr($c, 0, $clen);
        if    ($type == 6) { $r{stdout} .= $c }
        elsif ($type == 7) { $r{stderr} .= $c }
        elsif ($type == 3) { $r{ended} = 1; $r{app_status} = unpack('N', $c); last }
    }
    parse_cgi(\%r);
    return \%r;
}

sub parse_cgi {
    my ($r) = @_;
    my ($head, $body) = split /\r?\n\r?\n/, $r->{stdout}, 2;
    $r->{body} = $body // '';
    $r->{headers} = {};
    $r->{header_lines} = [];
    for my $line (split /\r?\n/, $head // '') {
        my ($n, $v) = $line =~ /^([^:]+):\s*(.*)$/ or next;
        push @{ $r->{header_lines} }, [$n, $v];
        $r->{headers}{lc $n} = exists $r->{headers}{lc $n} ? "$r->{headers}{lc $n}, $v" : $v;
    }
    ($r->{status}) = ($r->{headers}{status} // '200') =~ /^(\d+)/;
}

# One request on a new connection.
sub fcgi {
    my ($self, $params, $stdin, %o) = @_;
    my $s = $self->connect or return { status => 0, body => '', error => "connect: $!" };
    write_all($s, encode_request($params, $stdin, %o));
    my $r = read_response($s, %o);
    close $s;
    return $r;
}

# GET a script by name: SCRIPT_FILENAME and the usual CGI variables.
sub get {
    my ($self, $name, %env) = @_;
    my $stdin = delete $env{STDIN};
    my %params = (
        SCRIPT_FILENAME => $name =~ m{^/} ? $name : "$self->{www}/$name",
        REQUEST_METHOD  => defined $stdin ? 'POST' : 'GET',
        GATEWAY_INTERFACE => 'CGI/1.1',
        SERVER_PROTOCOL => 'HTTP/1.1',
        REMOTE_ADDR     => '127.0.0.1',
        QUERY_STRING    => '',
        (defined $stdin ? (CONTENT_LENGTH => length $stdin) : ()),
        %env,
    );
    delete $params{$_} for grep { !defined $params{$_} } keys %params;
    return $self->fcgi(\%params, $stdin);
}

# ---- a private nginx --------------------------------------------------------

sub nginx_binary { for ('/usr/sbin/nginx', '/usr/local/sbin/nginx') { return $_ if -x $_ } return 'nginx' }

# Start nginx in front of this daemon; returns the port. Options: port,
# user, keepalive (kept connections), locations (more location blocks),
# client_max_body_size, servers (upstream server lines, for an upstream of
# several daemons instead of this one), fastcgi (more directives in the
# .lua location), main (lines in nginx's main context: load_module), http
# (lines in its http block: lua_shared_dict).
sub start_nginx {
    my ($self, %o) = @_;
    my $dir = "$self->{dir}/nginx";
    mkdir $dir;
    mkdir "$dir/$_" for qw(body fastcgi proxy uwsgi scgi);
    my $port = $o{port} // free_port();
    my $listen = $self->{conf}{listen};
    my $upstream = $listen =~ m{^/} ? "unix:$listen" : ($listen =~ /^:/ ? "127.0.0.1$listen" : $listen);
    my $servers = join ' ', map { "server $_;" } @{ $o{servers} // [ $upstream ] };
    my $fastcgi = $o{fastcgi} // '';
    my $user = $> == 0 ? "user " . ($o{user} // 'root root') . ";\n" : '';
    my $keep = $o{keepalive} ? "keepalive $o{keepalive};" : '';
    my $keepconn = $o{keepalive} ? "fastcgi_keep_conn on;" : '';
    my $locations = $o{locations} // '';
    my $maxbody = $o{client_max_body_size} // '16m';     # more location blocks, before the .lua one
    my $main = $o{main} // '';
    my $http = $o{http} // '';
    spew("$dir/nginx.conf", <<"CONF");
${user}${main}
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    $http
    client_body_temp_path $dir/body;
    fastcgi_temp_path $dir/fastcgi;
    proxy_temp_path $dir/proxy;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    client_max_body_size $maxbody;
    upstream luafcgid { $servers $keep }
    server {
        listen 127.0.0.1:$port;
        root $self->{www};
        index index.lua;
        $locations
        location ~ [^/]\\.lua(/|\$) {
            fastcgi_split_path_info ^(.+?\\.lua)(/.*)\$;
            fastcgi_param SCRIPT_FILENAME \$document_root\$fastcgi_script_name;
            fastcgi_param SCRIPT_NAME \$fastcgi_script_name;
            fastcgi_param PATH_INFO \$fastcgi_path_info;
            fastcgi_param QUERY_STRING \$query_string;
            fastcgi_param REQUEST_METHOD \$request_method;
            fastcgi_param CONTENT_TYPE \$content_type;
            fastcgi_param CONTENT_LENGTH \$content_length;
            fastcgi_param REQUEST_URI \$request_uri;
            fastcgi_param DOCUMENT_URI \$document_uri;
            fastcgi_param DOCUMENT_ROOT \$document_root;
            fastcgi_param SERVER_PROTOCOL \$server_protocol;
            fastcgi_param GATEWAY_INTERFACE CGI/1.1;
            fastcgi_param REMOTE_ADDR \$remote_addr;
            fastcgi_param REMOTE_PORT \$remote_port;
            fastcgi_param SERVER_ADDR \$server_addr;
            fastcgi_param SERVER_PORT \$server_port;
            fastcgi_param SERVER_NAME \$server_name;
            fastcgi_param HTTP_COOKIE \$http_cookie;
            $keepconn
            $fastcgi
            fastcgi_pass luafcgid;
        }
    }
}
CONF
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open(STDOUT, '>>', "$dir/stderr.log");
        open(STDERR, '>>', "$dir/stderr.log");
        exec(nginx_binary(), '-p', $dir, '-c', "$dir/nginx.conf") or POSIX::_exit(127);
    }
    track($pid, 'nginx');
    $self->{nginx_pid} = $pid;
    $self->{nginx_port} = $port;
    my $up = wait_for(sub {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp');
        return 1 if $s;
        return -1 if waitpid($pid, WNOHANG) == $pid;
        return 0;
    }, 15);
    die "nginx did not start:\n" . slurp("$dir/stderr.log") . slurp("$dir/error.log")
        unless $up && $up == 1;
    return $port;
}

sub stop_nginx {
    my ($self) = @_;
    return unless $self->{nginx_pid};
    stop_pid($self->{nginx_pid}, 'QUIT', 15);
    $self->{nginx_pid} = undef;
}

sub nginx_url { my ($self, $path) = @_; "http://127.0.0.1:$self->{nginx_port}$path" }

sub http_get {
    my ($url, %o) = @_;
    require HTTP::Tiny;
    return HTTP::Tiny->new(timeout => $o{timeout} // 30, keep_alive => 0)->get($url, { headers => $o{headers} // {} });
}

sub http_post {
    my ($url, $body, %o) = @_;
    require HTTP::Tiny;
    return HTTP::Tiny->new(timeout => $o{timeout} // 30, keep_alive => 0)->request('POST', $url, {
        content => $body,
        headers => { 'Content-Type' => 'application/x-www-form-urlencoded', %{ $o{headers} // {} } },
    });
}

1;
