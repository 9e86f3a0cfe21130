# The service thread (status and ping while every worker is busy) is never held by one client,
# never runs a script, and is not shut out by clients that send nothing (a ping written in
# parts: ping-in-parts.t).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use JSON::PP ();
use Time::HiRes qw(time);
use LFTest qw(wait_for slurp spew);

sub pair { LFTest::nv_len($_[0]) . LFTest::nv_len($_[1]) . $_[0] . $_[1] }
sub ping_ms {
    my ($t, $timeout) = @_;
    my $t0 = time;
    my $r = $t->fcgi({ SCRIPT_NAME => '/ping', SCRIPT_FILENAME => '/ping', REQUEST_METHOD => 'GET' }, '',
                     timeout => $timeout // 10);
    return ($r->{body}, (time - $t0) * 1000);
}
# Every worker held (LFTest::hold_workers): the service thread alone can
# answer meanwhile.
sub stuck_pool {
    my ($t) = @_;
    my @s = $t->hold_workers;
    is(scalar @s, $t->{conf}{workers}, 'every worker is held');
    return @s;
}
sub release {
    my ($t, @held) = @_;
    is($t->release_workers(@held), scalar @held, 'let go, the held requests end');
}
my %loop = ('who.lua' => 'function main(env, req) req:puts("script ran") end');
my %conf = (workers => 2, timeout => 60, client_timeout => 30, status_path => '/status', ping_path => '/ping');

# ---- 1. one stalled status/ping request holds the service thread for client_timeout
{
    my $t = LFTest->new(conf => \%conf, scripts => \%loop);
    $t->start;
    my @stuck = stuck_pool($t);
    my $held = LFTest::sockets($t);
    my $bad = $t->connect;      # BEGIN and a PARAMS record naming /ping, never the end of the params
    LFTest::write_all($bad, LFTest::record(1, 1, pack('nCx5', 1, 0)) . LFTest::record(4, 1, pair('SCRIPT_NAME', '/ping')));
    ok(wait_for(sub { LFTest::sockets($t) > $held }, 5), 'the service thread takes the stalled request in');
    my ($body, $ms) = ping_ms($t, 3);
    is($body, 'pong', 'ping answers while another client stalls a ping request');
    release($t, @stuck);
    close $bad;
    is($t->stop, 0, 'stop');
}

# ---- 2. the peek and libfcgi disagree on SCRIPT_NAME: the service thread runs a script
{
    my $t = LFTest->new(conf => \%conf, scripts => \%loop);
    $t->start;
    my @stuck = stuck_pool($t);
    my $s = $t->connect;
    LFTest::write_all($s, LFTest::record(1, 1, pack('nCx5', 1, 0))
        . LFTest::stream(4, 1, pair('SCRIPT_NAME=/x', '') . pair('SCRIPT_NAME', '/ping')
                               . pair('SCRIPT_FILENAME', $t->www . '/who.lua') . pair('REQUEST_METHOD', 'GET'))
        . LFTest::stream(5, 1, ''));
    # the workers are held: an answer before they are let go is the service thread's
    my $r = LFTest::read_response($s, timeout => 2);
    unlike($r->{body}, qr/script ran/, 'the service thread never runs a script');
    my ($body) = ping_ms($t, 3);
    is($body, 'pong', 'and ping still answers');
    release($t, @stuck);
    is($t->stop, 0, 'stop');
}

# ---- 3. sixteen connections that send nothing shut status out
{
    my $t = LFTest->new(conf => \%conf, scripts => \%loop);
    $t->start;
    my @stuck = stuck_pool($t);
    my $held = LFTest::sockets($t);
    my @silent = map { $t->connect } 1 .. 16;
    ok(wait_for(sub { LFTest::sockets($t) >= $held + 16 }, 5), 'the service thread took the 16 in');
    my ($body, $ms) = ping_ms($t, 3);
    is($body, 'pong', 'ping on a new connection past 16 idle connections');
    release($t, @stuck);
    is($t->stop, 0, 'stop');
}

# ---- 5. script paths that strict parsers of each format must accept: a newline, control
# characters, markup, and a UTF-8 character cut by the 255 bytes a path is kept to
{
    my $t = LFTest->new(conf => { workers => 1, status_path => '/status' });
    my $long = ('d' x (255 - length($t->www) - 2)) . "\xe2\x82\xac.lua";   # a valid UTF-8 name cut at 255 bytes
    my @names = ("nl\nactive processes:   99\n.lua", "ctl\x01\x1b.lua", q{<b>&amp;"q'".lua}, "bad\xff\xc0.lua", $long);
    $t->script($_, 'function main(env, req) req:puts("ok") end') for @names;
    $t->start;
    is($t->get($_)->{body}, 'ok', 'runs') for @names;
    my %page = map {
        $_ => $t->fcgi({ SCRIPT_NAME => '/status', SCRIPT_FILENAME => '/status', QUERY_STRING => $_,
                         REQUEST_METHOD => 'GET' }, '')->{body}
    } ('', 'json', 'xml', 'html', 'openmetrics');
    my @active = $page{''} =~ /^active processes:/mg;
    is(scalar @active, 1, 'text: a path cannot add a line of its own');
    unlike($page{''}, qr/&amp;amp;|&quot;/, 'text: no HTML escapes in the plain text page');
    for my $q ('xml', 'html') {
        like($page{$q}, qr/&lt;b&gt;&amp;amp;&quot;q&#39;&quot;\.lua/, "$q: markup in a path is escaped, both quotes too");
    }
    for my $q ('', 'json', 'xml', 'openmetrics') {
        ok(utf8::decode(my $copy = $page{$q}), "?$q is valid UTF-8, as its charset says");
    }
    spew("$t->{dir}/t5.xml", $page{xml});
    is(system('python3', '-c', 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])', "$t->{dir}/t5.xml"), 0,
       'xml: well-formed');
    spew("$t->{dir}/t5.json", $page{json});
    is(system('python3', '-c', 'import sys, json; json.load(open(sys.argv[1], encoding="utf-8"))', "$t->{dir}/t5.json"), 0,
       'json: RFC 8259 (UTF-8)');
    is($t->stop, 0, 'stop');
}

# ---- 6. max children reached and max listen queue count only requests that waited for a worker:
# not each request that took the last idle one, nor probes that connect and hang up
{
    my $t = LFTest->new(conf => { workers => 1, status_path => '/status' }, scripts => \%loop);
    $t->start;
    my $status = sub { JSON::PP->new->decode($t->fcgi({ SCRIPT_NAME => '/status', SCRIPT_FILENAME => '/status',
                                                          QUERY_STRING => 'json', REQUEST_METHOD => 'GET' }, '')->{body}) };
    # one after the other, each once the worker is back (a request sent while it
    # is still finishing the last one does wait for it)
    for (1 .. 5) {
        is($t->get('who.lua')->{body}, 'script ran', 'served');
        ok(wait_for(sub { my $j = $status->(); $j->{'idle processes'} == 1 && $j->{'active processes'} == 0 }, 5),
           'and the worker is idle again');
    }
    # probes, each taken in and let go before the next
    my $held = LFTest::sockets($t);
    for (1 .. 5) {
        my $s = $t->connect;
        ok(wait_for(sub { LFTest::sockets($t) == $held + 1 }, 5), 'a probe connects: taken in');
        close $s;
        ok(wait_for(sub { LFTest::sockets($t) == $held }, 5), 'and hangs up: let go');
    }
    my $j = $status->();
    is($j->{'max children reached'}, 0, 'max children reached: no request waited');
    is($j->{'max listen queue'}, 0, 'max listen queue: nor did a probe');
    is($t->stop, 0, 'stop');
}

# ---- 7. 300 scripts on one worker: each has its own exact figures, and their states add up
{
    my $n = 300;
    my $t = LFTest->new(conf => { workers => 1, states => $n + 10, status_path => '/status', loglevel => 'warn' });
    $t->script(sprintf("s%04d.lua", $_), 'function main(env, req) req:puts("x") end') for 1 .. $n;
    $t->start;
    $t->get(sprintf("s%04d.lua", $_)) for 1 .. $n;
    my $j = JSON::PP->new->decode($t->fcgi({ SCRIPT_NAME => '/status', SCRIPT_FILENAME => '/status',
                                              QUERY_STRING => 'json', REQUEST_METHOD => 'GET' }, '')->{body});
    my %by = map { $_->{path} => $_ } @{ $j->{scripts} };
    is(scalar(grep { ($by{$t->www . sprintf("/s%04d.lua", $_)}{requests} // 0) == 1 } 1 .. $n), $n,
       'every script has its own exact figures');
    my $states = 0;
    $states += $_->{states} for @{ $j->{scripts} };
    is($states, $j->{states}, 'the scripts\' states add up to the states loaded');
    is($t->stop, 0, 'stop');
}

# ---- 8. two paths longer than the 255 bytes kept, alike in those: each keeps its own figures
{
    my $t = LFTest->new(conf => { workers => 1, status_path => '/status' });
    my @names = map { ('e' x 240) . "$_.lua" } 1, 2;
    $t->script($_, 'function main(env, req) req:puts("ok") end') for @names;
    $t->start;
    is($t->get($names[0])->{body}, 'ok', 'the first runs') for 1 .. 3;
    is($t->get($names[1])->{body}, 'ok', 'the second runs');
    my $j = JSON::PP->new->decode($t->fcgi({ SCRIPT_NAME => '/status', SCRIPT_FILENAME => '/status',
                                              QUERY_STRING => 'json', REQUEST_METHOD => 'GET' }, '')->{body});
    my @long = sort { $a <=> $b } map { $_->{requests} } grep { $_->{path} =~ /eeee/ } @{ $j->{scripts} };
    is("@long", '1 3', 'two entries, with 3 and 1 requests') or diag explain [map { [$_->{path}, $_->{requests}] } @{ $j->{scripts} }];
    is($t->stop, 0, 'stop');
}

done_testing;
