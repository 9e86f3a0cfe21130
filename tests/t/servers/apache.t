# Through a real Apache 2.4 (mod_proxy_fcgi), in both forms its users write:
# SetHandler "proxy:unix:...|fcgi://localhost" on .lua files, and php-fpm's
# ProxyPassMatch form, which sends SCRIPT_FILENAME as
# proxy:fcgi://localhost/www/x.lua/extra/path with no PATH_INFO; with
# enablereuse (kept connections), and with ProxyFCGIBackendType GENERIC
# (the plain path in SCRIPT_FILENAME).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFTest qw(spew free_port);
use LFServers;

my $apache = (grep { -x } '/usr/sbin/apache2', '/usr/local/sbin/httpd')[0];
plan skip_all => 'Apache 2.4 (apache2) is not installed' unless $apache;
my $mods = (grep { -e "$_/mod_proxy_fcgi.so" } '/usr/lib/apache2/modules', '/usr/local/libexec/apache24')[0];
plan skip_all => 'mod_proxy_fcgi is not installed' unless $mods;
plan skip_all => 'Apache must start as root here (it serves as www-data)' unless $> == 0;

my $t = LFTest->new(conf => { workers => 4, listen_mode => '0666', maxpost => 1024 * 1024 });
LFServers::scripts($t);
$t->start;
LFServers::idle_sockets($t);

my ($dir, $www, $sock) = ($t->dir, $t->www, $t->listen_addr);
my ($p1, $p2, $p3, $p4) = (free_port(), free_port(), free_port(), free_port());
my $user = getpwnam('www-data') ? 'www-data' : 'nobody';
my $group = getgrnam('www-data') ? 'www-data' : 'nogroup';
mkdir "$dir/apache";
spew("$dir/apache/httpd.conf", <<"CONF");
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
Listen 127.0.0.1:$p1
Listen 127.0.0.1:$p2
Listen 127.0.0.1:$p3
Listen 127.0.0.1:$p4
DocumentRoot $www
<Directory $www>
    Require all granted
</Directory>

# The SetHandler form: Apache maps the URL to the file, PATH_INFO apart.
<VirtualHost 127.0.0.1:$p1>
    <FilesMatch "\\.lua\$">
        SetHandler "proxy:unix:$sock|fcgi://localhost"
    </FilesMatch>
</VirtualHost>

# php-fpm's ProxyPassMatch form: the whole path in SCRIPT_FILENAME.
<VirtualHost 127.0.0.1:$p2>
    ProxyPassMatch "^/(.*\\.lua(/.*)?)\$" "unix:$sock|fcgi://localhost$www/\$1"
</VirtualHost>

# The SetHandler form with kept connections to luafcgid.
<VirtualHost 127.0.0.1:$p3>
    <FilesMatch "\\.lua\$">
        SetHandler "proxy:fcgi://lfkeep"
    </FilesMatch>
</VirtualHost>

# ProxyFCGIBackendType GENERIC: SCRIPT_FILENAME the plain path.
<VirtualHost 127.0.0.1:$p4>
    ProxyFCGIBackendType GENERIC
    <FilesMatch "\\.lua\$">
        SetHandler "proxy:unix:$sock|fcgi://localhost"
    </FilesMatch>
</VirtualHost>
<Proxy "unix:$sock|fcgi://lfkeep">
    ProxySet enablereuse=on
</Proxy>
CONF

my $pid = LFServers::start_server(name => 'apache', dir => $dir, port => $p1,
    argv => [$apache, '-f', "$dir/apache/httpd.conf", '-DFOREGROUND'], logs => ["$dir/apache/error.log"]);

# An early answer (404) must not close the connection while Apache is still
# sending its empty STDIN record: Apache would log "AH01075 ... Broken pipe
# ... (sending empty stdin)" and answer 503. luafcgid reads the rest first.
LFServers::suite($t, "http://127.0.0.1:$p1", label => 'Apache SetHandler');
LFServers::suite($t, "http://127.0.0.1:$p2", label => 'Apache ProxyPassMatch');
LFServers::suite($t, "http://127.0.0.1:$p3", label => 'Apache SetHandler, enablereuse', keeps => 1);
LFServers::suite($t, "http://127.0.0.1:$p4", label => 'Apache GENERIC');

LFServers::stop_server($pid, 'TERM');
unlike(LFTest::slurp("$dir/apache/error.log"), qr/AH01067|AH01075|AH01068/,
       'Apache logged no failed read or write on its FastCGI connections');
is($t->stop, 0, 'stop');
done_testing;
