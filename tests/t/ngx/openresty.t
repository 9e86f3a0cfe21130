# ngx.* against OpenResty: every script of tests/t/ngx/corpus is run by
# Debian's ngx_lua (content_by_lua_file) and by luafcgid, behind the same
# nginx, and must answer alike: status, headers, body (tests/lib/LFNgx.pm).
#
# A script's first lines say what to ask it (default: one GET):
#
#   -- request: POST ?a=1 | Content-Type: text/plain | body: x=1
#      (body: BIGBODY is 40000 letters, BODY<n> n of them)
#   -- differ: body | <regex luafcgid's body must match>   (documented, README)
#   -- differ: header location
#   -- log: <regex both error logs come to match>
#
# The helpers in the same folder, required by the scripts and run by none:
# dump.lua (serialised tables, sorted), uthread.lua (a light thread that
# leaves a mark, for the thread_*.lua scripts on ngx.exit).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use File::Basename qw(basename);
use Test::More;
use LFTest qw(slurp);
use LFNgx;

plan skip_all => "Debian's ngx_lua (libnginx-mod-http-lua) is not installed" unless LFNgx::available();

my $corpus = "$FindBin::Bin/corpus";
my @files = sort glob("$corpus/*.lua");
my $only = $ENV{LF_CORPUS};     # LF_CORPUS=re runs the scripts whose name has "re"
@files = grep { basename($_) =~ /\Q$only\E/ } @files if $only;
my %scripts = map { basename($_) => slurp($_) } @files;
my @helpers = qw(dump.lua uthread.lua);
$scripts{$_} = slurp("$corpus/$_") for grep { -f "$corpus/$_" } @helpers;

my $h = LFNgx->new(scripts => \%scripts, conf => { timeout => 10 }, shared => { d => '1m' });
$h->start;

# The requests a script's header asks for, and its documented differences.
sub directives {
    my ($text) = @_;
    my (@requests, %differ, $log);
    for my $line (split /\n/, $text) {
        last unless $line =~ /^--/;
        if ($line =~ /^-- request:\s*(\S+)\s*(\?\S*)?\s*(.*)$/) {
            my %r = (method => $1, query => $2 // '');
            for my $part (grep { length } map { s/^\s+|\s+$//gr } split /\|/, $3) {
                if ($part =~ /^body:\s?(.*)$/) {
                    ($r{body} = $1) =~ s/\\n/\n/g;
                    $r{body} =~ s/\\r/\r/g;
                    $r{body} = join('', map { chr(65 + $_ % 26) } 1 .. 40000) if $r{body} eq 'BIGBODY';
                    $r{body} = join('', map { chr(65 + $_ % 26) } 1 .. $1) if $r{body} =~ /^BODY(\d+)$/;
                }
                elsif ($part =~ /^([\w-]+):\s*(.*)$/) { push @{ $r{headers}{$1} }, $2 }
            }
            $r{headers}{$_} = @{ $r{headers}{$_} } == 1 ? $r{headers}{$_}[0] : $r{headers}{$_}
                for keys %{ $r{headers} || {} };
            push @requests, \%r;
        } elsif ($line =~ /^-- differ:\s*(status|body|header \S+)\s*(?:\|\s*(.*))?$/) {
            $differ{lc $1} = defined $2 ? qr/$2/s : undef;
        } elsif ($line =~ /^-- log:\s*(.*)$/) {
            $log = qr/$1/;
        }
    }
    @requests = ({ method => 'GET', query => '' }) unless @requests;
    return (\@requests, \%differ, $log);
}

for my $file (sort keys %scripts) {
    next if grep { $_ eq $file } @helpers;
    my ($requests, $differ, $log) = directives($scripts{$file});
    for my $r (@$requests) {
        $h->compare("$file$r->{query}", method => $r->{method}, body => $r->{body},
                    headers => $r->{headers}, differ => $differ, log => $log,
                    name => "$file: $r->{method} $r->{query}");
    }
}

$h->stop;
done_testing;
