# Through a real Caddy 2 (reverse_proxy with transport fastcgi), with
# "split .lua" (SCRIPT_FILENAME the script, PATH_INFO the rest) and without
# it (SCRIPT_FILENAME the root directory, SCRIPT_NAME empty, PATH_INFO the
# whole path: luafcgid walks the root to the script). Caddy opens a
# connection per request.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFTest qw(spew free_port);
use LFServers;

my $caddy = (grep { -x } '/usr/bin/caddy', '/usr/local/bin/caddy')[0];
plan skip_all => 'Caddy is not installed' unless $caddy;

my $t = LFTest->new(conf => { workers => 4, listen_mode => '0666', maxpost => 1024 * 1024 });
LFServers::scripts($t);
$t->start;

my ($dir, $www, $sock) = ($t->dir, $t->www, $t->listen_addr);
my ($p1, $p2) = (free_port(), free_port());
mkdir "$dir/caddy";
spew("$dir/caddy/Caddyfile", <<"CONF");
{
	admin off
	auto_https off
	storage file_system $dir/caddy
}

http://127.0.0.1:$p1 {
	root * $www
	\@lua path_regexp \\.lua(/|\$)
	reverse_proxy \@lua unix/$sock {
		transport fastcgi {
			split .lua
		}
	}
}

http://127.0.0.1:$p2 {
	root * $www
	\@lua path_regexp \\.lua(/|\$)
	reverse_proxy \@lua unix/$sock {
		transport fastcgi
	}
}
CONF

# Caddy writes its state under HOME and XDG dirs: keep them in the temp dir.
my $pid = LFServers::start_server(name => 'caddy', dir => $dir, port => $p1,
    env => { HOME => "$dir/caddy", XDG_DATA_HOME => "$dir/caddy", XDG_CONFIG_HOME => "$dir/caddy" },
    argv => [$caddy, 'run', '--adapter', 'caddyfile', '--config', "$dir/caddy/Caddyfile"]);
LFTest::wait_for(sub { IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $p2) }, 20);

# An early answer (404) must not close the connection while Caddy is still
# sending its empty STDIN record (Caddy would answer 502), and a chunked
# body comes with CONTENT_LENGTH -1, read to its empty STDIN record.
LFServers::suite($t, "http://127.0.0.1:$p1", label => 'Caddy split .lua');
LFServers::suite($t, "http://127.0.0.1:$p2", label => 'Caddy without split');

LFServers::stop_server($pid, 'TERM');
is($t->stop, 0, 'stop');
done_testing;
