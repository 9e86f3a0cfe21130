# Through a real Caddy 2 (reverse_proxy with transport fastcgi), with
# "split .lua" (SCRIPT_FILENAME the script, PATH_INFO the rest) and without
# it (SCRIPT_FILENAME the root directory, SCRIPT_NAME empty, PATH_INFO the
# whole path: luafcgid walks the root to the script). Caddy opens a
# connection per request.
# one build: what the web server sends and how it keeps its connections, answered by the FastCGI layer in C: the Lua build changes none of it
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFServers;

plan skip_all => 'Caddy is not installed' unless LFServers::caddy_binary();

my $t = LFTest->new(conf => { workers => 4, listen_mode => '0666', maxpost => 1024 * 1024 });
LFServers::scripts($t);
$t->start;

my ($pid, $p1, $p2) = LFServers::start_caddy($t, 'split .lua', '');

# An early answer (404) must not close the connection while Caddy is still
# sending its empty STDIN record (Caddy would answer 502), and a chunked
# body comes with CONTENT_LENGTH -1, read to its empty STDIN record.
LFServers::suite($t, "http://127.0.0.1:$p1", label => 'Caddy split .lua');
LFServers::suite($t, "http://127.0.0.1:$p2", label => 'Caddy without split');

LFServers::stop_server($pid, 'TERM');
is($t->stop, 0, 'stop');
done_testing;
