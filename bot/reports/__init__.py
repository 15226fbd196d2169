"""Everything the bot renders that is not a card: words, charts and files. Each module is imported by name
(charts loads matplotlib and exports openpyxl, so this package imports none of them eagerly):

    text          the survey conversation as plain text (`TextRenderer`), and the wording cards share
    summary_text  a partnership summary in words, shared by the card, the terminal and the Excel sheet
    charts        summary charts as PNG images
    chart_links   signed, expiring links to those charts, and the route that draws them
    exports       a survey's answers as CSV or Excel, with a summary sheet
"""

__all__ = ["chart_links", "charts", "exports", "summary_text", "text"]
