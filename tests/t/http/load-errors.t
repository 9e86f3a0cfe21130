# A script that does not load is counted by why: a syntax error as
# `errors syntax`; an error its top level raises while it runs (a require
# loop, error()) as `errors runtime`; its top level over `timeout` or
# `memory` as those. Its entry on the status page shows it never loaded:
# no load, and no last load time (not 1970).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use JSON::PP ();
use LFTest;

my $t = LFTest->new(conf => { workers => 1, timeout => 1, memory => 4 * 1024 * 1024,
                              status_path => '/status' });
$t->script('syntax.lua', "function main(env, req) req:puts( end\n");
$t->script('loop.lua', "require 'loopmod'\nfunction main(env, req) req:puts('never') end\n");
$t->script('loopmod.lua', "require 'loopmod'\n");
$t->script('raise.lua', "error('raised at load')\nfunction main(env, req) end\n");
$t->script('spin.lua', "while true do end\n");
$t->script('grow.lua', "local t = {} for i = 1, 1e7 do t[i] = ('x'):rep(64) .. i end\n");
$t->start;
my $www = $t->www;

my %want = ('syntax.lua' => 'syntax', 'loop.lua' => 'runtime', 'raise.lua' => 'runtime',
            'spin.lua' => 'timeout', 'grow.lua' => 'memory');
for my $script (sort keys %want) {
    is($t->get($script)->{status}, 500, "$script: 500");
}
like($t->log, qr/loop\.lua: 500 .*loop or previous error loading module 'loopmod'/, 'a require loop: logged as such');

my $status = sub {
    $t->fcgi({ SCRIPT_NAME => '/status', SCRIPT_FILENAME => '/status', QUERY_STRING => $_[0],
               REQUEST_METHOD => 'GET' }, '')->{body};
};
my $j = eval { JSON::PP->new->decode($status->('json')) } || {};
my %s = map { $_->{path} => $_ } @{ $j->{scripts} || [] };
for my $script (sort keys %want) {
    my $e = $s{"$www/$script"} || {};
    my @kinds = grep { ($e->{"errors $_"} // 0) > 0 } qw(runtime syntax timeout memory);
    is("@kinds", $want{$script}, "$script: counted as errors $want{$script}");
    is($e->{loads}, 0, "$script: no load");
}
is($j->{'errors syntax'}, 1, 'the pool counts one syntax error');
is($j->{'errors runtime'}, 2, 'and two runtime errors');

my $text = $status->('');
my ($entry) = $text =~ /^(path:\s+\Q$www\E\/raise\.lua\n(?:[^\n]+\n)*)/m;
like($entry // '', qr/^last load time:\s+-$/m, 'text: a script never loaded has no last load time')
    or diag $entry;
unlike($text, qr/1970/, 'text: no date of 1970');
unlike($status->('html'), qr/1970/, 'HTML: no date of 1970');

is($t->stop, 0, 'stop');
done_testing;
