# What a client sends (its REQUEST_URI) and what a script is named reach the
# status page escaped by the log's rules in every format: C0 controls,
# DEL, the UTF-8 C1 controls (NEL, CSI), U+2028 and U+2029 never appear
# raw. Text, XML and HTML show each as the log does (\r, \x7f,
# \xc2\x85); JSON writes its own escape of the code point (\u0085), which
# decodes to the value sent; an OpenMetrics label holds the text page's
# form, and a strict parser reads it back.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use JSON::PP ();
use Encode ();
use LFTest qw(wait_for spew);

my $t = LFTest->new(conf => { workers => 2, timeout => 5, status_path => '/status' });
$t->script('loop.lua', "function main(env, req) while true do end end\n");
my $hostile = "\r\x7f\xc2\x85\xe2\x80\xa8\xe2\x80\xa9\xc2\x9b[31m\\";   # CR DEL NEL LS PS CSI, a backslash
my $shown = '\r\x7f\xc2\x85\xe2\x80\xa8\xe2\x80\xa9\xc2\x9b[31m\\\\';    # as the log writes it
my $name = "n$hostile.lua";
spew($t->www . "/$name", "function main(env, req) req:puts('named') end\n");
$t->start;
my $www = $t->www;

# Bytes no page may carry raw: a C0 control other than the line's own
# newline, DEL, a UTF-8 C1 control, U+2028, U+2029.
my $raw = qr/[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]|\xe2\x80[\xa8\xa9]/;

sub page {
    my ($query) = @_;
    return $t->fcgi({ SCRIPT_NAME => '/status', SCRIPT_FILENAME => '/status', QUERY_STRING => $query,
                      REQUEST_METHOD => 'GET', REQUEST_URI => '/status' }, '');
}

is($t->get($name)->{body}, 'named', 'a script whose name holds control characters runs');

# a worker busy on a request whose URI holds them
my $s = $t->connect;
LFTest::write_all($s, LFTest::encode_request({ SCRIPT_FILENAME => "$www/loop.lua", REQUEST_METHOD => 'GET',
                                               REQUEST_URI => "/u$hostile" }, ''));
ok(wait_for(sub { page('json')->{body} =~ /"active processes":1\b/ }, 5), 'a worker is busy on it');

for my $fmt ('full', 'xml&full', 'html&full') {
    my $body = page($fmt)->{body};
    unlike($body, $raw, "?$fmt: no control character, C1 control, U+2028 or U+2029 raw");
    ok(index($body, "/u$shown") >= 0, "?$fmt: the request URI as the log writes it")
        or diag $body;
    ok(index($body, "n$shown.lua") >= 0, "?$fmt: the script's name as the log writes it");
}

my $json = page('json&full')->{body};
unlike($json, $raw, '?json: no control character raw');
like($json, qr/\\u0085\\u2028\\u2029\\u009b\[31m\\\\/, '?json: JSON\'s escapes of the code points');
my $j = eval { JSON::PP->new->decode($json) } || {};
my ($busy) = grep { $_->{'request uri'} ne '-' && $_->{'request uri'} =~ m{^/u} } @{ $j->{processes} || [] };
is($busy && $busy->{'request uri'}, Encode::decode('UTF-8', "/u$hostile"), '?json: decodes to the URI sent');

my $metrics = page('openmetrics')->{body};
unlike($metrics, $raw, '?openmetrics: no control character raw in a label');
my $file = $t->dir . '/metrics.txt';
spew($file, $metrics);
my ($python) = grep { system("$_ -c 'import prometheus_client' 2>/dev/null") == 0 } '/usr/bin/python3', 'python3';
SKIP: {
    skip 'python3-prometheus-client is not installed', 1 unless $python;
    my $label = `$python -c '
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
for fam in text_string_to_metric_families(open(sys.argv[1]).read()):
    for s in fam.samples:
        if s.name == "luafcgid_requests_total":
            sys.stdout.write(s.labels.get("script", "") + "\\n")
' $file 2>&1`;
    like($label, qr/^\Q$www\/n$shown.lua\E$/m, '?openmetrics: a strict parser reads the script label as the text page shows it')
        or diag $label;
}

close $s;
is($t->stop, 0, 'stop');
done_testing;
