# The Debian package as a user meets it: built by dpkg-buildpackage,
# lintian and blhc clean, installed with apt-get (the postinst makes the
# user and starts the service through its init script), serving the
# examples through Debian's nginx with nothing but the shipped snippet
# (and through Apache and lighttpd with their shipped configs),
# upgraded under load to a rebuilt package (the LuaJIT build profile)
# without one failed request, removed, purged; nothing it made is left,
# and the machine is as it was (the system user too, which policy would
# let the package leave: the test removes it with userdel when it made
# it).
#
# Runs once per CI run (tests/t/once). It needs root; where a
# policy-rc.d forbids starting services (containers), the package's
# commands run in a private mount namespace where one that allows
# luafcgid, and only it, hides the machine's. It installs system-wide,
# so one run at a time: a second waits for the first's lock. The load
# across the upgrade is GETs and POSTs, through the snippet as shipped
# (a connection to luafcgid per request) and as its comment shows
# (upstream keepalive, fastcgi_keep_conn: connections kept across
# requests, and across the hand-over).
#
# Cost: two package builds (side by side: the second, nocheck, uses what
# the first's serial steps leave of the two cores), an install, an
# upgrade, a purge (lintian on each build runs beside them): 3 to 4
# minutes on 2 busy cores, most of it dpkg-buildpackage, lintian and dpkg;
# `note` lines give each phase's time. It runs once per CI run (make
# check-once).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Digest::MD5;
use Fcntl qw(:flock);
use File::Find ();
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Test::More;
use Time::HiRes qw(time);
use LFTest qw(wait_for slurp spew alive free_port);
use LFServers ();

my $top = LFTest::top();
my $began = time;

plan skip_all => 'needs root: it installs and purges a package' unless $> == 0;
plan skip_all => 'not a Debian system (no apt-get, dpkg-query)'
    unless `which apt-get 2>/dev/null` && `which dpkg-query 2>/dev/null`;
for my $tool (qw(dpkg-buildpackage dh lintian blhc)) {
    plan skip_all => "$tool is not installed (tools/deps --package)" unless `which $tool 2>/dev/null`;
}
plan skip_all => 'nginx is not installed (tools/deps --test)' unless -x '/usr/sbin/nginx';
sub leave_alone {
    my $status = `dpkg-query -W -f '\${Status}' luafcgid 2>/dev/null`;
    plan skip_all => "a luafcgid package is on this machine already ($status): not touching it"
        if $status =~ /\S/ && $status !~ /not-installed/;
    for my $p (qw(/etc/luafcgid /run/luafcgid /var/log/luafcgid /usr/sbin/luafcgid)) {
        plan skip_all => "$p exists: a luafcgid installed by hand, not touching it" if -e $p;
    }
}
leave_alone();

# One run at a time on this machine (another clone's, another developer's):
# the lock is held until this process exits. Then the machine is looked
# at again: a run that held it has put it back by then.
my $lockfile = (-d '/run/lock' ? '/run/lock' : '/tmp') . '/lf-debian-package.lock';
open(my $lock, '>>', $lockfile) or plan skip_all => "cannot open $lockfile: $!";
plan skip_all => 'another run of this test held its lock for 20 minutes'
    unless wait_for(sub { flock($lock, LOCK_EX | LOCK_NB) }, 1200);
leave_alone();

my $tmp = tempdir('lf-deb.XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $tmp;

# ---- the package's commands, with services allowed to start ----------

my $ns = 0;
my $policy = "$tmp/policy-rc.d";
spew($policy, "#!/bin/sh\n# the test's: luafcgid's own service, nothing else\n"
            . "[ \"\$1\" = luafcgid ] && exit 0\nexit 101\n");
chmod 0755, $policy;
if (-e '/usr/sbin/policy-rc.d') {
    plan skip_all => 'a policy-rc.d forbids starting services and no mount namespace can hide it'
        unless system("unshare -m sh -c 'mount --bind $policy /usr/sbin/policy-rc.d' >/dev/null 2>&1") == 0;
    $ns = 1;
}

# Run CMD (a list) with its output in a file; (exit status, output).
my $nrun = 0;
sub run {
    my (@cmd) = @_;
    my $log = "$tmp/run" . ++$nrun . '.log';
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>', $log);
        open(STDERR, '>&', \*STDOUT);
        exec(@cmd) or POSIX::_exit(127);
    }
    waitpid($pid, 0);
    return ($? >> 8, slurp($log));
}

# apt-get and the maintainer scripts, where luafcgid's service may start
sub admin {
    my (@cmd) = @_;
    local $ENV{DEBIAN_FRONTEND} = 'noninteractive';
    return run(@cmd) unless $ns;
    return run('unshare', '-m', 'sh', '-c', 'mount --bind "$0" /usr/sbin/policy-rc.d && exec "$@"', $policy, @cmd);
}

sub apt { return admin('apt-get', '-y', '-q', '--no-install-recommends', @_) }

# ---- the machine before -----------------------------------------------

# What may be left on the machine: every path named after the package
# where a package, its scripts or its daemon write (dpkg's own files under
# /usr are dpkg's to remove), the daemon's upload directories in /tmp, and
# /etc whole (contents too).
my @trees = qw(/etc /var /run /srv /opt /usr/local /lib/systemd /usr/lib/systemd /usr/share/doc /usr/share/man
               /usr/share/lua /usr/sbin);
# man-db's cat pages are its cache, made by whoever ran man(1) while the
# package was installed: not counted, but those made meanwhile go at the end.
sub named_paths {
    my @found = grep { m{/luafcgid-\d+(?:-[0-9a-f]{24})?$} } glob('/tmp/luafcgid-* /var/tmp/luafcgid-*');
    File::Find::find({ no_chdir => 1, wanted => sub {
        if ($File::Find::name eq '/var/cache/man') { $File::Find::prune = 1; return }
        push @found, $File::Find::name if $_ =~ m{luafcgid[^/]*$};
    } }, grep { -d } @trees);
    return join "\n", sort @found;
}
my %cat_before = map { $_ => 1 } glob('/var/cache/man/cat*/luafcgid*');
sub drop_cat_pages { unlink grep { !$cat_before{$_} } glob('/var/cache/man/cat*/luafcgid*') }
# The user and group files (and the backups their tools keep) are left to
# user_lines(): the machine's users may change meanwhile, by others.
my @user_files = qw(/etc/passwd /etc/group /etc/shadow /etc/gshadow);
my %user_file = map { $_ => 1, "$_-" => 1 } @user_files;
sub etc_state {
    my %s;
    File::Find::find({ no_chdir => 1, wanted => sub {
        my $p = $File::Find::name;
        return if $user_file{$p};
        my @st = lstat $p or return;
        if (-l _) { $s{$p} = 'link ' . (readlink($p) // '') }
        elsif (-d _) { $s{$p} = sprintf('dir %o %d:%d', $st[2] & 07777, $st[4], $st[5]) }
        elsif (-f _) {
            open(my $fh, '<', $p) or do { $s{$p} = 'unreadable'; return };
            binmode $fh;
            $s{$p} = sprintf('file %o %d:%d ', $st[2] & 07777, $st[4], $st[5]) . Digest::MD5->new->addfile($fh)->hexdigest;
        }
    } }, '/etc');
    return \%s;
}
sub state_diff {
    my ($a, $b) = @_;
    my %all = (%$a, %$b);
    return join "\n", map { "$_: " . ($a->{$_} // 'absent') . ' -> ' . ($b->{$_} // 'absent') }
        grep { ($a->{$_} // '') ne ($b->{$_} // '') } sort keys %all;
}
sub packages { scalar `dpkg-query -W -f '\${Package}:\${Architecture} \${Version} \${Status}\\n' | sort` }

# The lines of the user and group files that name _luafcgid.
sub user_lines {
    return join '', map { my $f = $_; map { "$f: $_" } grep { /_luafcgid/ } split /^/m, slurp($f) } @user_files;
}

my $named_before = named_paths();
my $etc_before = etc_state();
my $packages_before = packages();
my $had_user = defined getpwnam('_luafcgid');
my $had_group = defined getgrnam('_luafcgid');
my $user_lines_before = user_lines();

# What the package may leave (the system user and its group), the test
# takes back when it caused it, with userdel and groupdel: only that, so
# what others change in those files meanwhile stays. (Their backups,
# passwd- and the like, hold the version before, as after any userdel.)
sub remove_user {
    run('userdel', '_luafcgid') if !$had_user && defined getpwnam('_luafcgid');
    run('groupdel', '_luafcgid') if !$had_group && defined getgrnam('_luafcgid');
}

# Whatever happens once this run installed the package, the package goes
# and the machine is put back; a run that skipped or stopped before
# installing touches nothing (a luafcgid package found on the machine is
# someone else's).
my ($nginx_pid, $build_pid, $clients, $installing, %lintian);
END {
    my $rc = $?;
    for (keys %lintian) { kill 'TERM', $_; waitpid($_, 0) }
    if ($clients) { kill 'KILL', @{ $clients->{pids} }; waitpid($_, 0) for @{ $clients->{pids} } }
    if ($build_pid) { kill 'TERM', -$build_pid; waitpid($build_pid, 0) }
    if ($nginx_pid) { kill 'QUIT', $nginx_pid; waitpid($nginx_pid, 0) }
    if ($installing) {
        if (`dpkg-query -W -f '\${Status}' luafcgid 2>/dev/null` =~ /installed|config-files|unpacked|half/) {
            admin('apt-get', '-y', '-q', 'purge', 'luafcgid');
        }
        remove_user();
        drop_cat_pages();
    }
    $? = $rc;
}

# ---- build, lintian, blhc ------------------------------------------------

sub build {
    my ($out, @args) = @_;
    return run('sh', "$top/tools/deb", '--out', $out, @args);
}
sub one_deb { my @d = glob("$_[0]/luafcgid_*.deb"); return @d == 1 ? $d[0] : undef }

# lintian --pedantic on a build's .changes, in the background: it only
# reads the packages, so the install and the checks go on meanwhile (it
# takes a core for a while). lintian_done(PID): its exit status and the
# tags it printed (but the notice that it runs as root).
sub lintian_start {
    my ($changes) = @_;
    my $log = "$tmp/lintian" . (1 + keys %lintian) . '.log';
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>', $log);
        open(STDERR, '>&', \*STDOUT);
        $ENV{TMPDIR} = $tmp;        # its scratch files (mldbm-elf-*) go with ours
        exec('lintian', '--pedantic', '-I', '-E', $changes) or POSIX::_exit(127);
    }
    $lintian{$pid} = $log;
    return $pid;
}
sub lintian_done {
    my ($pid) = @_;
    my $status = -1;
    wait_for(sub { waitpid($pid, WNOHANG) == $pid && do { $status = $? >> 8; 1 } }, 600)
        or do { kill 'TERM', $pid; waitpid($pid, 0); diag 'lintian did not end in 600 s' };
    my $log = delete $lintian{$pid};
    return ($status, join("\n", grep { !/^running with root privileges/ } split /\n/, slurp($log)));
}

my $phase = time;
sub lap { my ($what) = @_; note(sprintf '%s: %.1f s', $what, time - $phase); $phase = time }
# The upgrade's package builds beside the first, on the core the first's
# serial steps (its unit tests, the dh_* helpers, dpkg-deb) leave idle:
# the LuaJIT profile where LuaJIT is installed, with nocheck (the first
# runs the unit tests; the profile's build must skip them), and a version
# above the first.
my $jit = system('pkg-config --exists luajit') == 0;
$build_pid = fork // die "fork: $!";
if ($build_pid == 0) {
    setpgrp(0, 0);
    $ENV{DEB_BUILD_PROFILES} = 'pkg.luafcgid.luajit' if $jit;
    $ENV{DEB_BUILD_OPTIONS} = 'nocheck';
    open(STDOUT, '>', "$tmp/v2.log");
    open(STDERR, '>&', \*STDOUT);
    exec('sh', "$top/tools/deb", '--out', "$tmp/v2", '--version-suffix', 'rebuild1') or POSIX::_exit(127);
}

my ($rc, $out) = build("$tmp/v1");
is($rc, 0, 'tools/deb (dpkg-buildpackage -us -uc) builds the package') or BAIL_OUT("no package:\n$out");
my $deb1 = one_deb("$tmp/v1");
ok($deb1, 'one luafcgid_*.deb') or BAIL_OUT('no luafcgid_*.deb in ' . join(' ', glob("$tmp/v1/*")));
my ($version1) = $deb1 =~ /luafcgid_([^_]+)_/;
my ($lf_version) = slurp("$top/include/luafcgid.h") =~ /#define\s+LF_VERSION\s+"([^"]+)"/;
is($version1, $lf_version, "the package's version is the daemon's (debian/changelog and LF_VERSION agree)");
my $build1 = slurp(glob("$tmp/v1/luafcgid_*.build"));
like($build1, qr/^All tests successful/m, 'the build ran the unit tests');

lap('the build');
my $lintian1 = lintian_start(glob("$tmp/v1/*.changes"));
($rc, $out) = run('blhc', glob("$tmp/v1/*.build"));
is($out, '', 'blhc: every compile and link has the build flags and hardening');
is($rc, 0, 'blhc exits 0');

my $files = `dpkg-deb -c $deb1`;
for my $f (qw(./usr/sbin/luafcgid ./etc/luafcgid/luafcgid.conf ./lib/systemd/system/luafcgid.service
              ./etc/init.d/luafcgid ./etc/logrotate.d/luafcgid ./usr/share/lua/5.1/luafcgid.lua
              ./usr/share/man/man8/luafcgid.8.gz ./usr/share/man/man5/luafcgid.conf.5.gz
              ./etc/nginx/snippets/luafcgid.conf ./etc/apache2/conf-available/luafcgid.conf
              ./etc/lighttpd/conf-available/15-luafcgid.conf ./usr/share/doc/luafcgid/examples/index.lua
              ./usr/share/doc/luafcgid/copyright ./usr/share/doc/luafcgid/README.Debian)) {
    # (README.Debian is compressed once over 4 kB, as policy says)
    my $gz = $f =~ /README\.Debian$/ ? '(?:\.gz)?' : '';
    like($files, qr/ \Q$f\E$gz$/m, "the package has $f");
}
my $conffiles = `dpkg-deb -I $deb1 conffiles`;
like($conffiles, qr{^/etc/luafcgid/luafcgid.conf$}m, 'the config is a conffile');

# ---- install ----------------------------------------------------------

lap('blhc');
$installing = 1;
($rc, $out) = apt('install', $deb1);
is($rc, 0, 'apt-get install ./luafcgid_*.deb') or diag $out;
like($out, qr/^Starting luafcgid\r?$/m, 'the postinst started the service with its init script');
lap('apt-get install');

my $pidfile = '/run/luafcgid/luafcgid.pid';
my ($pid) = slurp($pidfile) =~ /(\d+)/;
ok($pid && alive($pid), 'the daemon runs, with its pidfile in /run/luafcgid') or diag slurp('/var/log/luafcgid/luafcgid.log');
is(readlink("/proc/$pid/exe"), '/usr/sbin/luafcgid', 'as /usr/sbin/luafcgid');
my ($uid, $gid) = (getpwnam('_luafcgid'))[2, 3];
ok(defined $uid, 'the postinst made the system user _luafcgid');
my @pw = getpwnam('_luafcgid');
ok($uid < 1000 && $pw[7] eq '/nonexistent' && $pw[8] =~ m{/(nologin|false)$}, 'a system user, no home, no login');
my $serving = LFTest::serving_pid($pid);
my @ids;
wait_for(sub { @ids = map { (slurp($_) =~ /^Uid:\s+\d+\s+(\d+)/m)[0] } glob("/proc/$serving/task/*/status");
               @ids && !grep { $_ != $uid } @ids }, 10);
is(join(',', grep { $_ != $uid } @ids), '', 'the scripts run as _luafcgid');
my @sock = stat('/run/luafcgid/luafcgid.sock');
ok(-S _, 'the socket is /run/luafcgid/luafcgid.sock');
is(sprintf('%o', $sock[2] & 07777), '660', 'mode 0660');
is($sock[5], scalar getgrnam('www-data'), 'group www-data');
# owner:group:mode of PATH
sub owned { my @st = stat $_[0] or return 'absent'; return (getpwuid($st[4]) // $st[4]) . ':' . (getgrgid($st[5]) // $st[5]) . sprintf(':%o', $st[2] & 07777) }
is(owned('/var/log/luafcgid'), 'root:adm:755', 'the log directory is root\'s, group adm, 0755');
is(owned('/var/log/luafcgid/luafcgid.log'), 'root:adm:640', 'and so is the daemon\'s log, 0640');
like(slurp('/var/log/luafcgid/luafcgid.log'), qr/ started: \d+ workers/, 'the daemon logs there');
is(owned('/var/log/luafcgid/access.log') . ' ' . owned('/var/log/luafcgid/slow.log'),
   '_luafcgid:adm:640 _luafcgid:adm:640', 'the access and slow logs are made for _luafcgid');

($rc, $out) = run('/etc/init.d/luafcgid', 'status');
is($rc, 0, '/etc/init.d/luafcgid status: running') or diag $out;
SKIP: {
    skip 'systemd-analyze is not installed', 1 unless `which systemd-analyze 2>/dev/null`;
    # (--man=no: its man check would run man(1), which leaves cat pages)
    ($rc, $out) = run('systemd-analyze', 'verify', '--man=no', '/lib/systemd/system/luafcgid.service');
    unlike($out, qr/error|invalid|not executable|failed/i, 'systemd-analyze verify finds nothing wrong in the unit') or diag $out;
}
ok(-l '/etc/systemd/system/multi-user.target.wants/luafcgid.service', 'the unit is enabled');
my @rc2 = glob('/etc/rc2.d/S*luafcgid');
ok(@rc2 == 1, 'and so is the init script');

# ---- served through Debian's nginx with the shipped snippet ------------

my $port = free_port();
my $port_kept = free_port();
my $port_mine = free_port();
my $ng = "$tmp/nginx";
mkdir $ng;
# a script of the test's, trying what a hostile one would
my $www = "$tmp/www";
mkdir $www;
chmod 0755, $www;
spew("$www/forge.lua", <<'LUA');
function main(env, req)
  local f, err = io.open("/var/log/luafcgid/luafcgid.log", "a")
  if f then f:write("a forged line\n") f:close() req:puts("written") else req:puts(err) end
end
LUA
chmod 0644, "$www/forge.lua";
# the snippet's `include fastcgi_params` is read beside the config
symlink('/etc/nginx/fastcgi_params', "$ng/fastcgi_params");
# Connections to luafcgid kept across requests, as the snippet's comment
# says: its upstream (from the comment), and a copy of its block with
# fastcgi_keep_conn and that upstream.
my $snippet = slurp('/etc/nginx/snippets/luafcgid.conf');
my ($upstream) = $snippet =~ /^(#\s*upstream luafcgid \{\n(?:#.*\n)*?#\s*\}\n)/m;
ok($upstream, "the snippet's comment has the upstream with keepalive");
($upstream //= '') =~ s/^#//mg;
(my $kept = $snippet) =~ s{fastcgi_pass unix:\S+;}{fastcgi_keep_conn on;\n    fastcgi_pass luafcgid;};
spew("$ng/luafcgid-kept.conf", $kept);
spew("$ng/nginx.conf", <<"CONF");
user www-data www-data;
worker_processes 1;
daemon off;
pid $ng/nginx.pid;
error_log $ng/error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $ng/body;
    fastcgi_temp_path $ng/fastcgi;
    proxy_temp_path $ng/proxy;
    uwsgi_temp_path $ng/uwsgi;
    scgi_temp_path $ng/scgi;
    server {
        listen 127.0.0.1:$port;
        root /usr/share/doc/luafcgid/examples;
        index index.lua;
        include /etc/nginx/snippets/luafcgid.conf;
    }
$upstream
    server {
        listen 127.0.0.1:$port_kept;
        root /usr/share/doc/luafcgid/examples;
        include $ng/luafcgid-kept.conf;
    }
    server {
        listen 127.0.0.1:$port_mine;
        root $www;
        include /etc/nginx/snippets/luafcgid.conf;
    }
}
CONF
$nginx_pid = fork // die "fork: $!";
if ($nginx_pid == 0) {
    open(STDOUT, '>>', "$ng/stderr.log");
    open(STDERR, '>&', \*STDOUT);
    exec('/usr/sbin/nginx', '-p', $ng, '-c', "$ng/nginx.conf") or POSIX::_exit(127);
}
my $url = "http://127.0.0.1:$port";
my $http = HTTP::Tiny->new(timeout => 30);
ok(wait_for(sub { IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port) }, 15), 'nginx runs')
    or diag slurp("$ng/stderr.log") . slurp("$ng/error.log");
my $r = $http->get("$url/");
is($r->{status}, 200, 'GET / through nginx: 200') or diag "$r->{content}\n" . slurp("$ng/error.log");
like($r->{content}, qr{<h1>luafcgid examples</h1>}, 'the examples\' index.lua, run by luafcgid');
is($r->{headers}{'x-powered-by'}, 'luafcgid', 'answered by luafcgid');
$r = $http->get("$url/hello.lua");
is($r->{content}, "Hello from luafcgid!\n", 'hello.lua');
$r = $http->get("$url/env.lua/extra/path?x=1");
like($r->{content}, qr{PATH_INFO</th><td>/extra/path<}, 'env.lua: the snippet splits PATH_INFO');
like($r->{content}, qr{SCRIPT_FILENAME</th><td>/usr/share/doc/luafcgid/examples/env.lua<}, 'and names the script');
like($r->{content}, qr{REQUEST_ID</th><td>[0-9a-f]{32}<}, 'and passes the request id');
is($http->get("$url/no-such-script.lua")->{status}, 404, 'a missing script: 404');
my $url_kept = "http://127.0.0.1:$port_kept";
is($http->get("$url_kept/hello.lua")->{content}, "Hello from luafcgid!\n", 'through the upstream with kept connections too');
$r = $http->post_form("$url_kept/form.lua", { name => 'Ada', colour => 'red' });
like($r->{content}, qr{Hello, <b>Ada</b>\. You picked: red\.}, 'a POST: form.lua reads the body');
my $forge = sub { $http->get("http://127.0.0.1:$port_mine/forge.lua")->{content} // '' };
like($forge->(), qr/Permission denied/, 'a script cannot open the daemon\'s log to write into it');

# ---- and through Apache and lighttpd, with their shipped configs ---------

my $examples = '/usr/share/doc/luafcgid/examples';
my $mods = '/usr/lib/apache2/modules';
SKIP: {
    skip 'Apache 2.4 with mod_proxy_fcgi is not installed', 1 unless -x '/usr/sbin/apache2' && -e "$mods/mod_proxy_fcgi.so";
    my $ap = "$tmp/apache";
    mkdir $ap;
    my $p = free_port();
    spew("$ap/httpd.conf", <<"CONF");
ServerRoot $ap
DefaultRuntimeDir $ap
PidFile $ap/httpd.pid
ErrorLog $ap/error.log
User www-data
Group www-data
ServerName 127.0.0.1
LoadModule mpm_event_module $mods/mod_mpm_event.so
LoadModule authz_core_module $mods/mod_authz_core.so
LoadModule proxy_module $mods/mod_proxy.so
LoadModule proxy_fcgi_module $mods/mod_proxy_fcgi.so
Listen 127.0.0.1:$p
DocumentRoot $examples
<Directory $examples>
    Require all granted
</Directory>
Include /etc/apache2/conf-available/luafcgid.conf
CONF
    my $pid = LFServers::start_server(name => 'apache', dir => $ap, port => $p,
        argv => ['/usr/sbin/apache2', '-f', "$ap/httpd.conf", '-DFOREGROUND'], logs => ["$ap/error.log"]);
    is($http->get("http://127.0.0.1:$p/hello.lua")->{content}, "Hello from luafcgid!\n",
       'Apache, with conf-available/luafcgid.conf as shipped, serves hello.lua');
    LFServers::stop_server($pid, 'TERM');
}
SKIP: {
    skip 'lighttpd is not installed', 1 unless -x '/usr/sbin/lighttpd';
    my $lt = "$tmp/lighttpd";
    mkdir $lt;
    chown((getpwnam('www-data'))[2, 3], $lt);     # it opens its log as www-data
    my $p = free_port();
    spew("$lt/lighttpd.conf", <<"CONF");
server.document-root = "$examples"
server.bind = "127.0.0.1"
server.port = $p
server.username = "www-data"
server.groupname = "www-data"
server.errorlog = "$lt/error.log"
server.modules = ( "mod_fastcgi" )
include "/etc/lighttpd/conf-available/15-luafcgid.conf"
CONF
    my $pid = LFServers::start_server(name => 'lighttpd', dir => $lt, port => $p,
        argv => ['/usr/sbin/lighttpd', '-D', '-f', "$lt/lighttpd.conf"], logs => ["$lt/error.log"]);
    is($http->get("http://127.0.0.1:$p/hello.lua")->{content}, "Hello from luafcgid!\n",
       'lighttpd, with conf-available/15-luafcgid.conf as shipped, serves hello.lua');
    LFServers::stop_server($pid, 'TERM');
}

# ---- log rotation through the service ------------------------------------

SKIP: {
    skip 'logrotate is not installed', 6 unless -x '/usr/sbin/logrotate';
    ($rc, $out) = admin('/usr/sbin/logrotate', '-f', '-s', "$tmp/logrotate.state", '/etc/logrotate.d/luafcgid');
    is($rc, 0, 'logrotate -f /etc/logrotate.d/luafcgid') or diag $out;
    ok(-e '/var/log/luafcgid/luafcgid.log.1', 'the log was moved');
    ok(wait_for(sub { slurp('/var/log/luafcgid/luafcgid.log') =~ /log reopened/ }, 10),
       'and the daemon writes a new one (USR1 through the init script)');
    is(owned('/var/log/luafcgid/luafcgid.log'), 'root:adm:640', 'made by logrotate for root and adm');
    like($forge->(), qr/Permission denied/, 'which no script can write into either');
    unlike(join('', map { slurp($_) } glob('/var/log/luafcgid/*')), qr/a forged line|cannot (?:reopen|use|take|pass)|did not come/,
           'no forged line in the logs, and no process failed to take the log');
}

lap('checks of the installed service, nginx, logrotate');

($rc, $out) = lintian_done($lintian1);
is($out, '', 'lintian --pedantic -I -E: no tag, on the source and binary packages, that is not overridden');
is($rc, 0, 'lintian exits 0');
lap('waiting for lintian');

# ---- upgrade under load ---------------------------------------------------

my $waited = wait_for(sub { waitpid($build_pid, WNOHANG) == $build_pid }, 240);
lap('waiting for the rebuilt package');
my $build2_rc = $waited ? $? >> 8 : -1;
$build_pid = undef if $waited;
is($build2_rc, 0, 'the rebuilt package builds' . ($jit ? ' (pkg.luafcgid.luajit, nocheck)' : ' (nocheck)'))
    or diag slurp("$tmp/v2.log");
my $deb2 = one_deb("$tmp/v2");
my $build2 = slurp(glob("$tmp/v2/luafcgid_*.build"));
unlike($build2, qr/^All tests successful/m, 'with nocheck the build runs no test');
SKIP: {
    skip 'no rebuilt package', 12 unless $deb2;
    my $lintian2 = lintian_start(glob("$tmp/v2/*.changes"));

    # clients through nginx, each counting what it got right: GETs of
    # hello.lua and POSTs to form.lua in turn; the first through the
    # snippet as shipped, the others with connections to luafcgid kept
    my $stop = "$tmp/stop-load";
    $clients = LFTest::start_clients(3, sub {
        my ($c) = @_;
        my $h = HTTP::Tiny->new(timeout => 20, keep_alive => 1);
        my $base = $c == 1 ? $url : $url_kept;
        my ($ok, $bad, $first) = (0, 0, '');
        my $deadline = time + 120;
        while (!-e $stop && time < $deadline && $ok + $bad < 200000) {
            my ($res, $good);
            if (($ok + $bad) % 2) {
                my $name = "c$c-" . ($ok + $bad);
                $res = $h->post_form("$base/form.lua", { name => $name, colour => 'blue' });
                $good = $res->{content} =~ m{Hello, <b>\Q$name\E</b>\. You picked: blue\.};
            } else {
                $res = $h->get("$base/hello.lua");
                $good = $res->{content} eq "Hello from luafcgid!\n";
            }
            if ($res->{status} == 200 && $good) { $ok++ }
            else { $bad++; $first ||= "$res->{status} $res->{content}" }
            spew("$tmp/count$c", $ok + $bad) if ($ok + $bad) % 20 == 0;
        }
        $first =~ s/\s+/ /g;
        return "$ok $bad $first";
    });
    my $count = sub { my $n = 0; $n += slurp("$tmp/count$_") || 0 for 1 .. 3; $n };
    ok(wait_for(sub { $count->() >= 60 }, 30), 'the load runs');

    ($rc, $out) = apt('install', $deb2);
    is($rc, 0, 'apt-get install of the rebuilt package, under load') or diag $out;
    lap('apt-get install of the rebuilt package (the upgrade)');
    like($out, qr/luafcgid now runs as pid \d+; pid $pid finishes its requests/, 'the postinst upgraded with USR2');
    my ($new) = slurp($pidfile) =~ /(\d+)/;
    ok($new && $new != $pid && alive($new), "a new daemon ($new) took over");
    ok(wait_for(sub { !alive($pid) }, 70), 'the old one finished its requests and went');
    is(readlink("/proc/$new/exe"), '/usr/sbin/luafcgid', 'the new one runs the installed binary');
    my $before = $count->();
    ok(wait_for(sub { $count->() >= $before + 60 }, 30), 'the load goes on through the new daemon');
    spew($stop, '');
    my @res = LFTest::wait_clients($clients, 60);
    $clients = undef;
    my ($ok, $bad) = (0, 0);
    for (@res) { my ($o, $b, $why) = split / /, $_ // "0 1 the client did not finish", 3; $ok += $o; $bad += $b; diag "a failure: $why" if $b }
    is($bad, 0, "no failed request across the upgrade ($ok answered)");
    like(`dpkg-query -W -f '\${Version}' luafcgid`, qr/\+rebuild1$/, 'the rebuilt version is installed');
    my $serving2 = LFTest::serving_pid($new);
    if ($jit) {
        like(`/usr/sbin/luafcgid -V`, qr/LuaJIT/, 'luafcgid -V: LuaJIT');
        like(slurp("/proc/$serving2/maps"), qr/libluajit/, 'the serving process runs on LuaJIT');
    } else {
        unlike(`/usr/sbin/luafcgid -V`, qr/LuaJIT/, 'LuaJIT is not installed: the rebuilt package is Lua 5.1 again');
        like(slurp("/proc/$serving2/maps"), qr/liblua5\.1/, 'the serving process runs on liblua5.1');
    }
    $pid = $new;
    ($rc, $out) = lintian_done($lintian2);
    is($out, '', 'lintian: the rebuilt one is clean too');
}

lap('the load after the upgrade');

# ---- remove, purge ---------------------------------------------------------

kill 'QUIT', $nginx_pid;
waitpid($nginx_pid, 0);
$nginx_pid = undef;

($rc, $out) = apt('remove', 'luafcgid');
is($rc, 0, 'apt-get remove luafcgid') or diag $out;
ok(wait_for(sub { !alive($pid) }, 70), 'the service stopped');
ok(!-e '/run/luafcgid', 'the socket, pidfile and run directory are gone');
ok(!-e '/usr/sbin/luafcgid', 'the binary is gone');
ok(-e '/etc/luafcgid/luafcgid.conf', 'the config stays until purge');
like(`dpkg-query -W -f '\${Status}' luafcgid`, qr/config-files/, 'the package is removed, its config kept');

($rc, $out) = apt('purge', 'luafcgid');
is($rc, 0, 'apt-get purge luafcgid') or diag $out;
lap('apt-get remove and purge');
like(`dpkg-query -W -f '\${Status}' luafcgid 2>&1`, qr/not-installed|no packages found/i, 'the package is gone');
ok(!-e $_, "$_ is gone") for qw(/etc/luafcgid /var/log/luafcgid /run/luafcgid /etc/nginx/snippets/luafcgid.conf);
is(named_paths(), $named_before, 'no path named after luafcgid is left on the machine');
is(state_diff($etc_before, etc_state()), '', '/etc is as it was (the user and group files aside)');
ok(defined getpwnam('_luafcgid'), 'the system user stays after purge, as policy says');
my $owned = `find @trees -xdev -uid $uid 2>/dev/null | head -5`;
is($owned, '', 'and owns nothing');
is(packages(), $packages_before, 'the same packages are installed as before');

remove_user();
is(user_lines(), $user_lines_before, 'with the user it caused removed, the user and group files name _luafcgid as before');
note(sprintf 'the whole test: %.0f s', time - $began);
done_testing;
