# The Debian package's Apache configuration (debian/conf/apache2), from the
# tree, in a private Apache: whatever modules are on, a .lua file is never
# sent as a file. Without mod_proxy_fcgi (a2enconf luafcgid without
# a2enmod proxy_fcgi) the scripts are refused; with it and no daemon on
# the socket (the package removed, its conffile kept) Apache answers 503.
# The whole package is debian-package.t's; this needs neither root's
# package tools nor a build, only Apache (a few seconds).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use File::Temp qw(tempdir);
use HTTP::Tiny;
use Test::More;
use LFTest qw(slurp spew free_port);
use LFServers ();

my $top = $ENV{LF_TOP} || "$FindBin::Bin/../../..";
my ($apache, $mods) = LFServers::apache_paths();
plan skip_all => 'Apache 2.4 with mod_proxy_fcgi is not installed' unless $apache;
plan skip_all => 'needs root (Apache runs as www-data)' unless $> == 0 && defined getpwnam('www-data');

my $tmp = tempdir('lf-debapache.XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $tmp;
my $www = "$tmp/www";
mkdir $www or die "mkdir: $!";
spew("$www/secret.lua", "-- SOURCE-MARKER\nfunction main(env, req) req:puts('ran') end\n");
spew("$www/page.html", "a page\n");
chmod 0644, glob("$www/*");
my $shipped = "$top/debian/conf/apache2/luafcgid.conf";
# the socket: nothing listens there, whoever runs luafcgid on this machine
(my $conf = slurp($shipped)) =~ s{unix:/run/luafcgid/luafcgid\.sock}{unix:$tmp/none.sock}
    or BAIL_OUT("no socket path in $shipped");
spew("$tmp/luafcgid.conf", $conf);

my $http = HTTP::Tiny->new(timeout => 10);

# Apache with MODULES (beside authz_core and the MPM) and CONF included.
sub apache {
    my ($name, $conf_file, @modules) = @_;
    my $dir = "$tmp/$name";
    mkdir $dir or die "mkdir: $!";
    my $port = free_port();
    my $load = join '', map { "LoadModule ${_}_module $mods/mod_$_.so\n" } @modules;
    spew("$dir/httpd.conf", <<"CONF");
ServerRoot $dir
DefaultRuntimeDir $dir
PidFile $dir/httpd.pid
ErrorLog $dir/error.log
User www-data
Group www-data
ServerName 127.0.0.1
LoadModule mpm_event_module $mods/mod_mpm_event.so
LoadModule authz_core_module $mods/mod_authz_core.so
$load
Listen 127.0.0.1:$port
DocumentRoot $www
<Directory $www>
    Require all granted
</Directory>
Include $conf_file
CONF
    my $pid = LFServers::start_server(name => "apache-$name", dir => $dir, port => $port,
        argv => [$apache, '-f', "$dir/httpd.conf", '-DFOREGROUND'], logs => ["$dir/error.log"]);
    return ($pid, "http://127.0.0.1:$port");
}

{
    my ($pid, $url) = apache('bare', $shipped);
    my $r = $http->get("$url/secret.lua");
    is($r->{status}, 403, 'without mod_proxy_fcgi, the shipped conf refuses a .lua file (403)');
    unlike($r->{content}, qr/SOURCE-MARKER/, 'and sends none of its source');
    is($http->get("$url/page.html")->{content}, "a page\n", 'other files are served as before');
    LFServers::stop_server($pid, 'TERM');
}

{
    my ($pid, $url) = apache('proxy', "$tmp/luafcgid.conf", qw(proxy proxy_fcgi));
    my $r = $http->get("$url/secret.lua");
    is($r->{status}, 503, 'with it and no daemon on the socket: 503');
    unlike($r->{content}, qr/SOURCE-MARKER/, 'and no source either');
    LFServers::stop_server($pid, 'TERM');
}
done_testing;
