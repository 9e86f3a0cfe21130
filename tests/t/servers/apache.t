# Through a real Apache 2.4 (mod_proxy_fcgi), in both forms its users write:
# SetHandler "proxy:unix:...|fcgi://localhost" on .lua files, and php-fpm's
# ProxyPassMatch form, which sends SCRIPT_FILENAME as
# proxy:fcgi://localhost/www/x.lua/extra/path with no PATH_INFO; with
# enablereuse (kept connections), and with ProxyFCGIBackendType GENERIC
# (the plain path in SCRIPT_FILENAME).
# one build: what the web server sends and how it keeps its connections, answered by the FastCGI layer in C: the Lua build changes none of it
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFServers;

my ($apache) = LFServers::apache_paths();
plan skip_all => 'Apache 2.4 with mod_proxy_fcgi is not installed' unless $apache;
plan skip_all => 'Apache must start as root here (it serves as www-data)' unless $> == 0;

my $t = LFTest->new(conf => { workers => 4, listen_mode => '0666', maxpost => 1024 * 1024 });
LFServers::scripts($t);
$t->start;
LFServers::idle_sockets($t);

my ($dir, $www, $sock) = ($t->dir, $t->www, $t->listen_addr);
my $handler = sub { qq{<FilesMatch "\\.lua\$">\n    SetHandler "$_[0]"\n</FilesMatch>\n} };
my ($pid, $p1, $p2, $p3, $p4) = LFServers::start_apache($t, [
    # The SetHandler form: Apache maps the URL to the file, PATH_INFO apart.
    $handler->("proxy:unix:$sock|fcgi://localhost"),
    # php-fpm's ProxyPassMatch form: the whole path in SCRIPT_FILENAME.
    qq{ProxyPassMatch "^/(.*\\.lua(/.*)?)\$" "unix:$sock|fcgi://localhost$www/\$1"\n},
    # The SetHandler form with kept connections to luafcgid.
    $handler->('proxy:fcgi://lfkeep'),
    # ProxyFCGIBackendType GENERIC: SCRIPT_FILENAME the plain path.
    "ProxyFCGIBackendType GENERIC\n" . $handler->("proxy:unix:$sock|fcgi://localhost"),
], qq{<Proxy "unix:$sock|fcgi://lfkeep">\n    ProxySet enablereuse=on\n</Proxy>\n});

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
