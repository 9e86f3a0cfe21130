# Through a real lighttpd 1.4 (mod_fastcgi), in its documented configuration
# (check-local on: it 404s a script missing from its own docroot) and with
# broken-scriptfilename, which sends PATH_INFO inside SCRIPT_FILENAME as
# php-fpm's cgi.fix_pathinfo expects. lighttpd opens a connection per request.
# one build: what the web server sends and how it keeps its connections, answered by the FastCGI layer in C: the Lua build changes none of it
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFTest qw(spew free_port);
use LFServers;

my $lighttpd = (grep { -x } '/usr/sbin/lighttpd', '/usr/local/sbin/lighttpd')[0];
plan skip_all => 'lighttpd is not installed' unless $lighttpd;

my $t = LFTest->new(conf => { workers => 4, listen_mode => '0666', maxpost => 1024 * 1024 });
LFServers::scripts($t);
$t->start;

my ($dir, $www, $sock) = ($t->dir, $t->www, $t->listen_addr);
my ($p1, $p2) = (free_port(), free_port());
mkdir "$dir/lighttpd";
spew("$dir/lighttpd/lighttpd.conf", <<"CONF");
server.document-root = "$www"
server.bind = "127.0.0.1"
server.port = $p1
server.errorlog = "$dir/lighttpd/error.log"
server.modules = ( "mod_fastcgi" )

# the documented form: check-local is on by default
fastcgi.server = ( ".lua" => ( ( "socket" => "$sock" ) ) )

\$SERVER["socket"] == "127.0.0.1:$p2" {
    fastcgi.server = ( ".lua" => ( ( "socket" => "$sock", "broken-scriptfilename" => "enable" ) ) )
}
CONF

my $pid = LFServers::start_server(name => 'lighttpd', dir => $dir, port => $p1,
    argv => [$lighttpd, '-D', '-f', "$dir/lighttpd/lighttpd.conf"], logs => ["$dir/lighttpd/error.log"]);

LFServers::suite($t, "http://127.0.0.1:$p1", label => 'lighttpd');
LFServers::suite($t, "http://127.0.0.1:$p2", label => 'lighttpd broken-scriptfilename');

LFServers::stop_server($pid, 'TERM');
is($t->stop, 0, 'stop');
done_testing;
