# Through a real H2O 2.2 (fastcgi.connect): through a file handler (the
# usual variables), on a path mapping with fastcgi.document_root (no
# SCRIPT_FILENAME, SCRIPT_NAME empty, PATH_INFO the whole path: luafcgid
# walks DOCUMENT_ROOT + PATH_INFO), on a path mapping without it (no
# DOCUMENT_ROOT either: luafcgid's docroot key is the root), and with
# fastcgi.timeout.keepalive, where H2O keeps its connections.
# one build: what the web server sends and how it keeps its connections, answered by the FastCGI layer in C: the Lua build changes none of it
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFTest qw(spew free_port);
use LFServers;

my $h2o = (grep { -x } '/usr/bin/h2o', '/usr/local/bin/h2o')[0];
plan skip_all => 'H2O is not installed' unless $h2o;

my $t = LFTest->new(conf => { workers => 4, listen_mode => '0666', maxpost => 1024 * 1024 });
$t->{conf}{docroot} = $t->www;
$t->write_conf;
LFServers::scripts($t);
$t->start;
LFServers::idle_sockets($t);

my ($dir, $www, $sock) = ($t->dir, $t->www, $t->listen_addr);
my @p = map { free_port() } 1 .. 4;
# One host per port, each serving "/" with the lines given (indented 8).
sub host {
    my ($port, @lines) = @_;
    return join('', "  \"127.0.0.1:$port\":\n", "    listen:\n", "      host: 127.0.0.1\n",
                "      port: $port\n", "    paths:\n", "      \"/\":\n", map { "        $_\n" } @lines);
}
my @connect = ('fastcgi.connect:', "  port: $sock", '  type: unix');
my @files = ("file.dir: $www", 'file.custom-handler:', '  extension: .lua', map { "  $_" } @connect);
mkdir "$dir/h2o";
spew("$dir/h2o/h2o.conf", "error-log: $dir/h2o/error.log\nhosts:\n"
    . host($p[0], @files)
    . host($p[1], @connect, "fastcgi.document_root: $www")
    . host($p[2], @connect)
    . host($p[3], @files, '  fastcgi.timeout.keepalive: 10000'));

my $pid = LFServers::start_server(name => 'h2o', dir => $dir, port => $p[0],
    argv => [$h2o, '-c', "$dir/h2o/h2o.conf"], logs => ["$dir/h2o/error.log"]);
LFTest::wait_for(sub { IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $p[3]) }, 20);

LFServers::suite($t, "http://127.0.0.1:$p[0]", label => 'H2O file handler');
LFServers::suite($t, "http://127.0.0.1:$p[1]", label => 'H2O path mapping, fastcgi.document_root');
LFServers::suite($t, "http://127.0.0.1:$p[2]", label => 'H2O path mapping, the docroot key');
LFServers::suite($t, "http://127.0.0.1:$p[3]", label => 'H2O file handler, keepalive', keeps => 1);

LFServers::stop_server($pid, 'TERM');
LFServers::guards($t);
is($t->stop, 0, 'stop');
done_testing;
